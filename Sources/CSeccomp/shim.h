// libseccomp (Debian's libseccomp-dev): SCMP_ACT_ERRNO and SCMP_SYS are macros and
// seccomp_rule_add is variadic, so Swift reaches them through this one function.
#pragma once
#include <errno.h>
#include <seccomp.h>

// Installs a filter that answers EPERM to io_uring_setup/enter/register, as Docker's default
// profile does. Returns 0 or -errno.
static inline int twill_deny_io_uring(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return -ENOMEM;
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup), 0);
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_enter), 0);
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_register), 0);
    if (rc == 0) rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc;
}
