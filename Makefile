# Twill: the two commands a fresh machine needs are `make demo` and `make test`.
.PHONY: all build release test demo fuzz bench bench-quick microbench clean

all: build

build:
	scripts/deps.sh
	swift build

release:
	scripts/deps.sh
	swift build -c release --static-swift-stdlib

# Every test: unit, real TUN/io_uring/UDP inside a namespace, integration scenarios, fuzzing.
test:
	scripts/test.sh

# The demo on the embedded store: namespaced hosts and pods, traffic across the overlay in both formats.
demo:
	scripts/demo.sh

fuzz:
	scripts/fuzz.sh $(or $(SECONDS),60)

# The end-to-end harness: every datapath side by side (about 10 minutes); table, JSON and SVG in .bench-out/.
bench:
	scripts/deps.sh
	swift build -c release --static-swift-stdlib --product twilld
	swift build -c release --static-swift-stdlib --product twill-bench
	.build/release/twill-bench --out .bench-out

bench-quick:
	scripts/deps.sh
	swift build --product twilld --product twill-bench
	.build/debug/twill-bench --quick --twilld .build/debug/twilld --out .bench-out/quick

# Codec and packet I/O microbenchmarks (ordo-one/benchmark), inside a private network namespace.
microbench:
	scripts/microbench.sh

clean:
	rm -rf .build .build-* Fuzz/.out
