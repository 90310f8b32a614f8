// libnl-route-3 (Debian's libnl-route-3-dev) for links, addresses and routes.
#pragma once
#include <sys/types.h>
#include <sys/socket.h>
#include <netlink/netlink.h>
#include <netlink/errno.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/neighbour.h>
#include <net/if.h>

static const int TWILL_NLM_F_CREATE = NLM_F_CREATE;
static const int TWILL_NLM_F_REPLACE = NLM_F_REPLACE;
static const int TWILL_NLM_F_EXCL = NLM_F_EXCL;
