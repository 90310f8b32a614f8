// What Swift cannot import from liburing 2.3 and the Linux headers: macros, variadic ioctl/fcntl,
// and constants newer than Debian 12's headers. No logic lives here.
#pragma once
// libc first: liburing.h defines _GNU_SOURCE before its own includes, which breaks SwiftGlibc's
// view of fd_set unless these are already in.
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sched.h>
#include <time.h>
#include <fcntl.h>
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/if_tun.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <liburing.h>

// Constants missing from Debian 12's headers / liburing 2.3.
static const int TWILL_IORING_OP_READ_MULTISHOT = 49;
static const int TWILL_UDP_SEGMENT = 103;
static const int TWILL_UDP_GRO = 104;
static const unsigned TWILL_TUN_F_CSUM = 0x01;
static const unsigned TWILL_TUN_F_TSO4 = 0x02;
static const unsigned TWILL_TUN_F_TSO6 = 0x04;
static const unsigned TWILL_TUN_F_USO4 = 0x20;
static const unsigned TWILL_TUN_F_USO6 = 0x40;
static const short TWILL_IFF_TUN = IFF_TUN;
static const short TWILL_IFF_NO_PI = IFF_NO_PI;
static const short TWILL_IFF_VNET_HDR = IFF_VNET_HDR;
static const short TWILL_IFF_MULTI_QUEUE = IFF_MULTI_QUEUE;

// IOSQE_* are enum-derived macros Swift does not import.
static const uint8_t TWILL_IOSQE_FIXED_FILE = IOSQE_FIXED_FILE;
static const uint8_t TWILL_IOSQE_BUFFER_SELECT = IOSQE_BUFFER_SELECT;

// TUNSETIFF: creates or attaches the device; the kernel writes back the final name.
static inline int twill_tun_set_iff(int fd, const char *name, short flags, char *out_name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (name) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = flags;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) return -errno;
    if (out_name) memcpy(out_name, ifr.ifr_name, IFNAMSIZ);
    return 0;
}

static inline int twill_tun_set_offload(int fd, unsigned flags) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

static inline int twill_tun_set_vnet_hdr_size(int fd, int size) {
    return ioctl(fd, TUNSETVNETHDRSZ, &size) < 0 ? -errno : 0;
}

static inline int twill_set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

// io_uring_prep_read_multishot is not in 2.3: a read with buffer selection from group `bgid`.
static inline void twill_prep_read_multishot(struct io_uring_sqe *sqe, int fd, unsigned short bgid) {
    io_uring_prep_rw(TWILL_IORING_OP_READ_MULTISHOT, sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = bgid;
}

static inline void twill_sqe_set_flags(struct io_uring_sqe *sqe, uint8_t flags) { sqe->flags |= flags; }
static inline void twill_sqe_set_buf_group(struct io_uring_sqe *sqe, unsigned short bgid) { sqe->buf_group = bgid; }
static inline void twill_sqe_set_ioprio(struct io_uring_sqe *sqe, unsigned short prio) { sqe->ioprio |= prio; }

// recvmmsg/sendmmsg and struct mmsghdr are _GNU_SOURCE-only, which SwiftGlibc does not see.
struct twill_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

static inline int twill_recvmmsg(int fd, struct twill_mmsghdr *v, unsigned int n, int flags) {
    return (int)syscall(SYS_recvmmsg, fd, v, n, flags, NULL);
}

static inline int twill_sendmmsg(int fd, struct twill_mmsghdr *v, unsigned int n, int flags) {
    return (int)syscall(SYS_sendmmsg, fd, v, n, flags);
}

// Names the calling thread (prctl is variadic).
static inline void twill_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

// UDP GSO: attaches a SOL_UDP/UDP_SEGMENT control message (one u16) to `m`, using `buf`
// (TWILL_UDP_SEGMENT_CMSG_SPACE bytes, 8-byte aligned) as its control buffer.
#define TWILL_UDP_SEGMENT_CMSG_SPACE 24
static inline void twill_msg_set_udp_segment(struct msghdr *m, void *buf, uint16_t size) {
    memset(buf, 0, TWILL_UDP_SEGMENT_CMSG_SPACE);
    m->msg_control = buf;
    m->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
    struct cmsghdr *c = CMSG_FIRSTHDR(m);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = TWILL_UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &size, sizeof(size));
}

// UDP GRO: the segment size the kernel reported for a coalesced receive, 0 when none.
static inline int twill_msg_udp_gro_size(struct msghdr *m) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == TWILL_UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v; memcpy(&v, CMSG_DATA(c), sizeof(v)); return v;
        }
    }
    return 0;
}

// The same for a multishot recvmsg result in a provided buffer.
static inline int twill_recvmsg_out_udp_gro_size(struct io_uring_recvmsg_out *o, struct msghdr *m) {
    for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, m); c; c = io_uring_recvmsg_cmsg_nexthdr(o, m, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == TWILL_UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v; memcpy(&v, CMSG_DATA(c), sizeof(v)); return v;
        }
    }
    return 0;
}

static inline int twill_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

// Keeps only capability `keep` (a CAP_* number): every other one leaves the bounding set (so
// programs twilld runs later, such as nft, get at most `keep`) and the permitted, effective and
// inheritable sets. Raw capset: libcap is not needed for one call. Returns 0 or -errno.
#include <linux/capability.h>
static inline int twill_keep_only_capability(int keep) {
    for (int cap = 0; cap <= 63; cap++) {
        if (cap == keep) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -errno;
    }
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    d[keep / 32].effective = d[keep / 32].permitted = 1u << (keep % 32);
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}
static const int TWILL_CAP_NET_ADMIN = CAP_NET_ADMIN;

// A classic BPF socket filter that keeps nothing: a socket that only sends never queues a datagram
// someone else sends to its port.
#include <linux/filter.h>
static inline int twill_socket_drop_all(int fd) {
    struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
    struct sock_fprog prog = { 1, code };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}
