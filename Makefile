# Twill: the two commands a fresh machine needs are `make demo` and `make test`.
.PHONY: all build release test demo fuzz bench clean

all: build

build:
	scripts/deps.sh
	swift build

release:
	scripts/deps.sh
	swift build -c release

# Every test: unit, real TUN/io_uring/UDP inside a namespace, integration scenarios, fuzzing.
test:
	scripts/test.sh

# The demo on the embedded store: namespaced hosts and pods, traffic across the overlay in both formats.
demo:
	scripts/demo.sh

fuzz:
	scripts/fuzz.sh $(or $(SECONDS),60)

clean:
	rm -rf .build .build-* Fuzz/.out
