#include "helper/netlink.hpp"

#include <cstring>

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>

#include "helper/error.hpp"

namespace banger::helper {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw op_error("internal", what + ": " + nl_geterror(err));
}

struct cache_ptr {
  nl_cache* c = nullptr;
  ~cache_ptr() {
    if (c)
      nl_cache_free(c);
  }
};

struct link_ptr {
  rtnl_link* l = nullptr;
  ~link_ptr() {
    if (l)
      rtnl_link_put(l);
  }
};

link_info to_info(rtnl_link* l) {
  link_info info;
  info.index = rtnl_link_get_ifindex(l);
  if (auto n = rtnl_link_get_name(l))
    info.name = n;
  if (auto t = rtnl_link_get_type(l))
    info.kind = t;
  if (auto a = rtnl_link_get_ifalias(l))
    info.alias = a;
  info.master = rtnl_link_get_master(l);
  info.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
  return info;
}

// IFLA_LINKINFO -> IFLA_INFO_DATA of a tun device. libnl-route has no tun
// module, so this one reply is parsed by hand.
int on_tun_reply(nl_msg* msg, void* arg) {
  auto out = static_cast<std::optional<tun_info>*>(arg);
  nlattr* tb[IFLA_MAX + 1];
  if (nlmsg_parse(nlmsg_hdr(msg), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0
      || tb[IFLA_LINKINFO] == nullptr)
    return NL_SKIP;
  nlattr* li[IFLA_INFO_MAX + 1];
  if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) < 0
      || li[IFLA_INFO_KIND] == nullptr
      || std::strcmp(static_cast<const char*>(nla_data(li[IFLA_INFO_KIND])),
                     "tun")
             != 0)
    return NL_SKIP;
  tun_info info;
  if (li[IFLA_INFO_DATA] != nullptr) {
    nlattr* td[IFLA_TUN_MAX + 1];
    if (nla_parse_nested(td, IFLA_TUN_MAX, li[IFLA_INFO_DATA], nullptr) == 0) {
      if (td[IFLA_TUN_OWNER])
        info.owner = nla_get_u32(td[IFLA_TUN_OWNER]);
      if (td[IFLA_TUN_TYPE])
        info.tap = nla_get_u8(td[IFLA_TUN_TYPE]) == IFF_TAP;
      if (td[IFLA_TUN_PERSIST])
        info.persist = nla_get_u8(td[IFLA_TUN_PERSIST]) != 0;
    }
  }
  *out = info;
  return NL_OK;
}

} // namespace

netlink::netlink() : sock_(nl_socket_alloc()) {
  if (sock_ == nullptr)
    throw op_error("internal", "cannot allocate a netlink socket");
  if (int err = nl_connect(sock_, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock_);
    fail("cannot open rtnetlink", err);
  }
}

netlink::~netlink() {
  nl_socket_free(sock_);
}

std::optional<link_info> netlink::find(const std::string& name) {
  link_ptr l;
  int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &l.l);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
    return std::nullopt;
  if (err < 0)
    fail("cannot read link '" + name + "'", err);
  return to_info(l.l);
}

std::vector<link_info> netlink::links() {
  cache_ptr cache;
  if (int err = rtnl_link_alloc_cache(sock_, AF_UNSPEC, &cache.c); err < 0)
    fail("cannot list links", err);
  std::vector<link_info> out;
  for (auto o = nl_cache_get_first(cache.c); o; o = nl_cache_get_next(o))
    out.push_back(to_info(reinterpret_cast<rtnl_link*>(o)));
  return out;
}

std::vector<ipv4_cidr> netlink::addresses(int ifindex) {
  std::vector<ipv4_cidr> out;
  for (auto& a : all_addresses())
    if (a.ifindex == ifindex)
      out.push_back(a.cidr);
  return out;
}

std::vector<route_info> netlink::routes() {
  cache_ptr cache;
  if (int err = rtnl_route_alloc_cache(sock_, AF_INET, 0, &cache.c); err < 0)
    fail("cannot list routes", err);
  std::vector<route_info> out;
  for (auto o = nl_cache_get_first(cache.c); o; o = nl_cache_get_next(o)) {
    auto r = reinterpret_cast<rtnl_route*>(o);
    route_info info;
    info.table = rtnl_route_get_table(r);
    auto dst = rtnl_route_get_dst(r);
    if (dst != nullptr && nl_addr_get_len(dst) == 4) {
      std::uint32_t be;
      std::memcpy(&be, nl_addr_get_binary_addr(dst), 4);
      info.dst = {ipv4{ntohl(be)},
                  static_cast<std::uint8_t>(nl_addr_get_prefixlen(dst))};
    }
    if (rtnl_route_get_nnexthops(r) == 1)
      info.oif = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
    out.push_back(info);
  }
  return out;
}

std::vector<addr_info> netlink::all_addresses() {
  cache_ptr cache;
  if (int err = rtnl_addr_alloc_cache(sock_, &cache.c); err < 0)
    fail("cannot list addresses", err);
  std::vector<addr_info> out;
  for (auto o = nl_cache_get_first(cache.c); o; o = nl_cache_get_next(o)) {
    auto a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_family(a) != AF_INET)
      continue;
    auto local = rtnl_addr_get_local(a);
    if (local == nullptr || nl_addr_get_len(local) != 4)
      continue;
    std::uint32_t be;
    std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
    out.push_back({rtnl_addr_get_ifindex(a),
                   {ipv4{ntohl(be)},
                    static_cast<std::uint8_t>(rtnl_addr_get_prefixlen(a))}});
  }
  return out;
}

std::optional<tun_info> netlink::tun(int ifindex) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  auto msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
  if (msg == nullptr)
    throw op_error("internal", "cannot allocate a netlink message");
  int err = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
  if (err >= 0)
    err = nl_send_auto(sock_, msg);
  nlmsg_free(msg);
  if (err < 0)
    fail("cannot query link " + std::to_string(ifindex), err);
  std::optional<tun_info> out;
  auto cb = nl_cb_clone(nl_socket_get_cb(sock_));
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_tun_reply, &out);
  err = nl_recvmsgs(sock_, cb);
  nl_cb_put(cb);
  if (err < 0)
    fail("cannot query link " + std::to_string(ifindex), err);
  // The reply was not multipart: the ACK follows on its own.
  if (err = nl_wait_for_ack(sock_); err < 0)
    fail("cannot query link " + std::to_string(ifindex), err);
  return out;
}

void netlink::create_bridge(const std::string& name) {
  link_ptr l;
  l.l = rtnl_link_bridge_alloc();
  if (l.l == nullptr)
    throw op_error("internal", "cannot allocate a bridge link");
  rtnl_link_set_name(l.l, name.c_str());
  if (int err = rtnl_link_add(sock_, l.l, NLM_F_CREATE | NLM_F_EXCL); err < 0)
    fail("cannot create bridge '" + name + "'", err);
}

void netlink::change(int ifindex, const char* what,
                     void (*edit)(rtnl_link*, const void*), const void* arg) {
  link_ptr orig, changes;
  if (int err = rtnl_link_get_kernel(sock_, ifindex, nullptr, &orig.l); err < 0)
    fail(std::string("cannot ") + what + " on link " + std::to_string(ifindex),
         err);
  changes.l = rtnl_link_alloc();
  edit(changes.l, arg);
  if (int err = rtnl_link_change(sock_, orig.l, changes.l, 0); err < 0) {
    std::string name =
        rtnl_link_get_name(orig.l) ? rtnl_link_get_name(orig.l) : "?";
    fail(std::string("cannot ") + what + " on '" + name + "'", err);
  }
}

void netlink::set_alias(int ifindex, const std::string& alias) {
  change(
      ifindex, "set the alias",
      [](rtnl_link* l, const void* a) {
        rtnl_link_set_ifalias(l, static_cast<const std::string*>(a)->c_str());
      },
      &alias);
}

void netlink::set_master(int ifindex, int master) {
  change(
      ifindex, "set the master",
      [](rtnl_link* l, const void* m) {
        rtnl_link_set_master(l, *static_cast<const int*>(m));
      },
      &master);
}

void netlink::set_up(int ifindex) {
  change(
      ifindex, "set the link up",
      [](rtnl_link* l, const void*) { rtnl_link_set_flags(l, IFF_UP); },
      nullptr);
}

void netlink::add_address(int ifindex, const ipv4_cidr& cidr) {
  auto addr = rtnl_addr_alloc();
  std::uint32_t be = htonl(cidr.addr.value);
  std::uint32_t bcast_be = htonl(cidr.addr.value | ~cidr.mask());
  auto local = nl_addr_build(AF_INET, &be, 4);
  auto bcast = nl_addr_build(AF_INET, &bcast_be, 4);
  nl_addr_set_prefixlen(local, cidr.prefix);
  rtnl_addr_set_ifindex(addr, ifindex);
  rtnl_addr_set_family(addr, AF_INET);
  int err = rtnl_addr_set_local(addr, local);
  rtnl_addr_set_prefixlen(addr, cidr.prefix);
  if (err >= 0)
    err = rtnl_addr_set_broadcast(addr, bcast);
  if (err >= 0)
    err = rtnl_addr_add(sock_, addr, 0);
  nl_addr_put(local);
  nl_addr_put(bcast);
  rtnl_addr_put(addr);
  if (err < 0)
    fail("cannot add address " + to_string(cidr) + " to link "
             + std::to_string(ifindex),
         err);
}

void netlink::delete_link(int ifindex) {
  link_ptr l;
  l.l = rtnl_link_alloc();
  rtnl_link_set_ifindex(l.l, ifindex);
  if (int err = rtnl_link_delete(sock_, l.l); err < 0)
    fail("cannot delete link " + std::to_string(ifindex), err);
}

} // namespace banger::helper
