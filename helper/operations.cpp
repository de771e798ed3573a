#include "helper/operations.hpp"

#include <algorithm>

#include "helper/error.hpp"
#include "helper/tun.hpp"
#include "helper/udp.hpp"
#include "services/log.hpp"
#include "services/pause_point.hpp"

namespace banger::helper {

using wire::json;

namespace {

constexpr const char* who_am_i = "helper";

void require(std::optional<std::string> why) {
  if (why)
    throw op_error(helper_code::invalid_argument, *why);
}

std::string q(const std::string& s) {
  return "'" + s + "'";
}

} // namespace

operations::operations(options opts) : opts_(std::move(opts)) {}

answer operations::handle(const wire::envelope& req, const peer& who) {
  answer out;
  auto& reply = out.frame;
  reply.id = req.id;
  std::lock_guard guard(mutex_);
  try {
    reply.body = dispatch(req, out.fd);
    reply.type = helper_msg::result;
    log::info(who_am_i, "uid={} pid={} id={} {} {} -> ok {}{}", who.uid,
              who.pid, req.id, req.type, req.body.dump(), reply.body.dump(),
              out.fd.valid() ? " + fd" : "");
    return out;
  } catch (const op_error& e) {
    reply.type = helper_msg::error;
    reply.body = to_json(error_body{e.code, e.what(), {}});
    log::warn(who_am_i, "uid={} pid={} id={} {} {} -> {}: {}", who.uid, who.pid,
              req.id, req.type, req.body.dump(), e.code, e.what());
  } catch (const wire::decode_error& e) {
    reply.type = helper_msg::error;
    reply.body =
        to_json(error_body{helper_code::protocol,
                           "bad \"" + req.type + "\" request: " + e.what(),
                           {}});
    log::warn(who_am_i, "uid={} pid={} id={} {} -> protocol: {}", who.uid,
              who.pid, req.id, req.type, e.what());
  } catch (const std::exception& e) {
    reply.type = helper_msg::error;
    reply.body = to_json(error_body{
        helper_code::internal, req.type + " failed: " + e.what(), {}});
    log::error(who_am_i, "uid={} pid={} id={} {} -> internal: {}", who.uid,
               who.pid, req.id, req.type, e.what());
  }
  out.fd.reset(); // an error frame never carries a descriptor
  return out;
}

json operations::dispatch(const wire::envelope& req, unique_fd& fd) {
  const auto& t = req.type;
  if (t == helper_msg::ensure_bridge)
    return to_json(ensure_bridge(decode<helper_ensure_bridge>(req.body)));
  if (t == helper_msg::create_tap)
    return to_json(create_tap(decode<helper_create_tap>(req.body)));
  if (t == helper_msg::delete_tap)
    return to_json(delete_tap(decode<helper_delete_tap>(req.body)));
  if (t == helper_msg::add_nat)
    return to_json(add_nat(decode<helper_add_nat>(req.body)));
  if (t == helper_msg::remove_nat)
    return to_json(remove_nat(decode<helper_remove_nat>(req.body)));
  if (t == helper_msg::list) {
    decode<helper_list_request>(req.body);
    return to_json(list());
  }
  if (t == helper_msg::open_tap)
    return to_json(open_tap(decode<helper_open_tap>(req.body), fd));
  if (t == helper_msg::bind_dns)
    return to_json(bind_dns(decode<helper_bind_dns>(req.body), fd));
  if (t == helper_msg::bind_tap)
    return to_json(bind_tap(decode<helper_bind_tap>(req.body)));
  throw op_error(helper_code::protocol,
                 "unknown message type " + q(t)
                     + ": banger-helper accepts helper.ensure_bridge, "
                       "helper.create_tap, helper.delete_tap, helper.add_nat, "
                       "helper.remove_nat, helper.list, helper.open_tap, "
                       "helper.bind_dns and helper.bind_tap");
}

void operations::require_own_bridge_name(const std::string& name) {
  if (name != opts_.bridge)
    throw op_error(helper_code::invalid_argument,
                   "bridge " + q(name) + " is not banger-helper's bridge "
                       + q(opts_.bridge)
                       + ": root sets the bridge on the helper's command line "
                         "(--bridge, from its unit or `sudo banger daemon "
                         "start`); use that name, or restart the helper with "
                         "another");
}

void operations::check_subnet_free() {
  ipv4_cidr net{ipv4{opts_.bridge_cidr.addr.value & opts_.bridge_cidr.mask()},
                opts_.bridge_cidr.prefix};
  auto links = nl_.links();
  int own = 0;
  auto name_of = [&](int index) {
    for (auto& l : links)
      if (l.index == index)
        return l.name;
    return "link " + std::to_string(index);
  };
  for (auto& l : links)
    if (l.name == opts_.bridge && l.kind == "bridge" && l.alias == bridge_mark)
      own = l.index;
  auto refuse = [&](const std::string& what) {
    throw op_error(helper_code::invalid_argument,
                   "subnet " + to_string(net) + " overlaps " + what
                       + " already on this host: guests there could capture "
                         "its traffic; choose a free subnet (--subnet, "
                         "config.toml [network] subnet)");
  };
  for (auto& a : nl_.all_addresses())
    if (a.ifindex != own && overlaps(a.cidr, net))
      refuse("address " + to_string(a.cidr) + " of " + q(name_of(a.ifindex)));
  for (auto& r : nl_.routes()) {
    // The default route covers everything; only specific routes conflict.
    if (r.dst.prefix == 0 || (own != 0 && r.oif == own))
      continue;
    if (overlaps(r.dst, net))
      refuse("route " + to_string(r.dst)
             + (r.oif ? " (dev " + name_of(r.oif) + ")" : std::string())
             + " in table " + std::to_string(r.table));
  }
}

void operations::drop_stale_bindings() {
  for (auto& b : nft_.bindings())
    if (!nl_.find(b.tap)) {
      nft_.unbind_tap(b.tap);
      log::info(who_am_i, "removed the binding of TAP {} (gone)", b.tap);
    }
}

void operations::start() {
  std::lock_guard guard(mutex_);
  check_subnet_free();
  drop_stale_bindings();
  auto br = nl_.find(opts_.bridge);
  if (br && br->kind == "bridge" && br->alias == bridge_mark)
    nft_.ensure_guard(opts_.bridge, opts_.bridge_cidr.addr, opts_.tap_prefix);
}

link_info operations::own_bridge(const std::string& name) {
  auto br = nl_.find(name);
  if (!br)
    throw op_error(helper_code::not_found,
                   "bridge " + q(name)
                       + " does not exist: create it with helper.ensure_bridge "
                         "first");
  if (br->kind != "bridge" || br->alias != bridge_mark)
    throw op_error(helper_code::bad_state,
                   "bridge " + q(name)
                       + " was not created by banger-helper (no '" + bridge_mark
                       + "' alias), and the helper touches only its own: use "
                         "a bridge made by helper.ensure_bridge");
  return *br;
}

helper_ensure_bridge_reply
operations::ensure_bridge(const helper_ensure_bridge& req) {
  require(check_bridge_name(req.name));
  require(check_bridge_cidr(req.cidr));
  if (req.name.rfind(opts_.tap_prefix, 0) == 0)
    throw op_error(helper_code::invalid_argument,
                   "bridge name " + q(req.name) + " starts with the TAP prefix "
                       + q(opts_.tap_prefix) + ": pick another bridge name");
  require_own_bridge_name(req.name);
  auto cidr = *parse_ipv4_cidr(req.cidr);
  if (!(cidr.addr == opts_.bridge_cidr.addr)
      || cidr.prefix != opts_.bridge_cidr.prefix)
    throw op_error(helper_code::invalid_argument,
                   "bridge address " + q(req.cidr) + " is not banger-helper's "
                       + q(to_string(opts_.bridge_cidr))
                       + ": root sets the subnet on the helper's command line "
                         "(--subnet, from its unit or `sudo banger daemon "
                         "start`); configure the same subnet, or restart the "
                         "helper with another");
  helper_ensure_bridge_reply reply{req.name, to_string(cidr), false};
  auto br = nl_.find(req.name);
  if (br && (br->kind != "bridge" || br->alias != bridge_mark))
    throw op_error(helper_code::already_exists,
                   "link " + q(req.name) + " exists"
                       + (br->kind == "bridge" ? "" : " and is not a bridge")
                       + " but was not created by banger-helper (no '"
                       + bridge_mark
                       + "' alias): the helper leaves it alone; configure "
                         "another bridge name, or delete the link yourself");
  // Routes and addresses may have changed since start.
  check_subnet_free();
  if (!br) {
    nl_.create_bridge(req.name);
    reply.created = true;
    br = nl_.find(req.name);
    if (!br)
      throw op_error(helper_code::internal,
                     "bridge " + q(req.name)
                         + " vanished right after creation");
    try {
      nl_.set_alias(br->index, bridge_mark);
    } catch (...) {
      nl_.delete_link(br->index); // unmarked, it could never be cleaned up
      throw;
    }
  }
  auto addrs = nl_.addresses(br->index);
  bool has = std::any_of(addrs.begin(), addrs.end(), [&](const ipv4_cidr& a) {
    return a.addr == cidr.addr && a.prefix == cidr.prefix;
  });
  if (!has)
    nl_.add_address(br->index, cidr);
  if (!br->up)
    nl_.set_up(br->index);
  nft_.ensure_guard(opts_.bridge, opts_.bridge_cidr.addr, opts_.tap_prefix);
  return reply;
}

helper_create_tap_reply operations::create_tap(const helper_create_tap& req) {
  require(check_tap_name(req.name, opts_.tap_prefix));
  require(check_bridge_name(req.bridge));
  if (req.owner_uid != opts_.owner_uid)
    throw op_error(helper_code::invalid_argument,
                   "owner_uid " + std::to_string(req.owner_uid)
                       + " is not the helper's owner: TAPs are created for uid "
                       + std::to_string(opts_.owner_uid) + " only");
  require_own_bridge_name(req.bridge);
  auto br = own_bridge(req.bridge);
  helper_create_tap_reply reply{req.name, req.owner_uid, req.bridge, false};
  auto tap = nl_.find(req.name);
  if (!tap) {
    std::uint32_t count = 0;
    for (auto& l : nl_.links())
      if (l.kind == "tun" && l.alias == tap_mark
          && !check_tap_name(l.name, opts_.tap_prefix))
        ++count;
    if (count >= opts_.max_taps)
      throw op_error(helper_code::unavailable,
                     "TAP " + q(req.name)
                         + " would be one too many: " + std::to_string(count)
                         + " banger TAPs exist and the helper's --max-taps is "
                         + std::to_string(opts_.max_taps)
                         + "; stop or delete VMs, or raise --max-taps");
  }
  if (tap) {
    auto info = tap->kind == "tun" ? nl_.tun(tap->index) : std::nullopt;
    if (!info || !info->tap || tap->alias != tap_mark)
      throw op_error(helper_code::already_exists,
                     "link " + q(req.name)
                         + " exists but is not a TAP created by banger-helper "
                           "(no '"
                         + tap_mark
                         + "' alias): the helper leaves it alone; use another "
                           "TAP name");
    if (info->owner != req.owner_uid)
      throw op_error(helper_code::already_exists,
                     "TAP " + q(req.name) + " exists with another owner ("
                         + (info->owner ? "uid " + std::to_string(*info->owner)
                                        : std::string("none"))
                         + "): delete it with helper.delete_tap first");
  } else {
    // A binding left by an older TAP of this name must not apply to it.
    nft_.unbind_tap(req.name);
    create_persistent_tap(req.name, req.owner_uid);
    reply.created = true;
    tap = nl_.find(req.name);
    if (!tap)
      throw op_error(helper_code::internal,
                     "TAP " + q(req.name) + " vanished right after creation");
    try {
      nl_.set_alias(tap->index, tap_mark);
    } catch (...) {
      nl_.delete_link(tap->index);
      throw;
    }
  }
  try {
    if (tap->master != br.index)
      nl_.set_master(tap->index, br.index);
    if (!tap->up)
      nl_.set_up(tap->index);
  } catch (...) {
    if (reply.created) // leave no half-made TAP behind
      nl_.delete_link(tap->index);
    throw;
  }
  return reply;
}

helper_delete_tap_reply operations::delete_tap(const helper_delete_tap& req) {
  require(check_tap_name(req.name, opts_.tap_prefix));
  helper_delete_tap_reply reply{req.name, false};
  auto tap = nl_.find(req.name);
  if (!tap) {
    nft_.unbind_tap(req.name); // idempotent: a binding outliving its TAP
    return reply;
  }
  if (tap->kind != "tun" || tap->alias != tap_mark)
    throw op_error(helper_code::bad_state,
                   "link " + q(req.name)
                       + " was not created by banger-helper (no '" + tap_mark
                       + "' alias): the helper does not delete it; remove it "
                         "yourself if it is stale");
  nl_.delete_link(tap->index);
  nft_.unbind_tap(req.name);
  reply.deleted = true;
  return reply;
}

helper_add_nat_reply operations::add_nat(const helper_add_nat& req) {
  require(check_guest_ip(req.guest_ip));
  require(check_bridge_name(req.bridge));
  auto ip = *parse_ipv4(req.guest_ip);
  require_own_bridge_name(req.bridge);
  auto br = own_bridge(req.bridge);
  auto addrs = nl_.addresses(br.index);
  bool inside = false;
  std::string subnets;
  for (auto& a : addrs) {
    auto host = ip.value & ~a.mask();
    if (a.contains(ip) && ip != a.addr && host != 0 && host != ~a.mask())
      inside = true;
    subnets += (subnets.empty() ? "" : ", ") + to_string(a);
  }
  if (!inside)
    throw op_error(helper_code::invalid_argument,
                   "guest address " + q(req.guest_ip)
                       + " is not a guest address on bridge " + q(req.bridge)
                       + " (" + (subnets.empty() ? "no addresses" : subnets)
                       + "): NAT is only for guests of banger's bridge");
  bool added = nft_.add_masquerade(ip, req.bridge);
  // Crash tests: the rule is in, bangerd has no answer yet.
  pause_point("helper.after_nat_add");
  return {to_string(ip), req.bridge, added};
}

helper_remove_nat_reply operations::remove_nat(const helper_remove_nat& req) {
  require(check_guest_ip(req.guest_ip));
  auto ip = *parse_ipv4(req.guest_ip);
  return {to_string(ip), nft_.remove_masquerade(ip)};
}

helper_open_tap_reply operations::open_tap(const helper_open_tap& req,
                                           unique_fd& fd) {
  require(check_tap_name(req.name, opts_.tap_prefix));
  auto tap = nl_.find(req.name);
  if (!tap)
    throw op_error(helper_code::not_found,
                   "TAP " + q(req.name)
                       + " does not exist: create it with helper.create_tap "
                         "first");
  auto info = tap->kind == "tun" ? nl_.tun(tap->index) : std::nullopt;
  if (!info || !info->tap || tap->alias != tap_mark)
    throw op_error(
        helper_code::bad_state,
        "link " + q(req.name) + " is not a TAP created by banger-helper (no '"
            + tap_mark + "' alias): the helper opens only its own TAPs");
  if (info->owner != opts_.owner_uid)
    throw op_error(helper_code::bad_state,
                   "TAP " + q(req.name) + " belongs to "
                       + (info->owner ? "uid " + std::to_string(*info->owner)
                                      : std::string("no owner"))
                       + ", not to the helper's owner (uid "
                       + std::to_string(opts_.owner_uid)
                       + "): delete it with helper.delete_tap and create it "
                         "again");
  auto opened = open_tap_queue(req.name);
  // TUNSETIFF creates a missing device: make sure the one we attached to is
  // the one checked above, not a fresh one that replaced it meanwhile.
  auto now = nl_.find(req.name);
  if (!now || now->index != tap->index)
    throw op_error(helper_code::bad_state,
                   "TAP " + q(req.name)
                       + " was deleted or replaced while it was being opened: "
                         "create it again");
  fd = std::move(opened);
  return {req.name};
}

helper_bind_dns_reply operations::bind_dns(const helper_bind_dns& req,
                                           unique_fd& fd) {
  auto ip = parse_ipv4(req.address);
  if (!ip)
    throw op_error(helper_code::invalid_argument,
                   "DNS address " + q(req.address)
                       + " is not an IPv4 address: use four decimal numbers "
                         "0-255 separated by dots, like '172.16.0.1'");
  // Root's policy: one socket address, port 53 of banger's bridge; never
  // another privileged port.
  if (req.port != 53)
    throw op_error(helper_code::invalid_argument,
                   "DNS port " + std::to_string(req.port)
                       + " is refused: banger-helper binds only port 53 of "
                         "its bridge address "
                       + q(to_string(opts_.bridge_cidr.addr))
                       + "; bangerd binds unprivileged ports itself");
  if (!(*ip == opts_.bridge_cidr.addr))
    throw op_error(helper_code::invalid_argument,
                   "DNS address " + q(req.address)
                       + " is not banger-helper's bridge address "
                       + q(to_string(opts_.bridge_cidr.addr))
                       + " (root sets it with --subnet): the helper binds "
                         "only that one");
  // Only an address of banger's own bridges: the helper binds no other host
  // address for the daemon.
  std::string owned;
  bool found = false;
  for (auto& l : nl_.links()) {
    if (l.kind != "bridge" || l.alias != bridge_mark || l.name != opts_.bridge)
      continue;
    for (auto& a : nl_.addresses(l.index)) {
      found = found || a.addr == *ip;
      owned +=
          (owned.empty() ? "" : ", ") + to_string(a.addr) + " (" + l.name + ")";
    }
  }
  if (!found)
    throw op_error(helper_code::invalid_argument,
                   "DNS address " + q(req.address)
                       + " is not an address of a bridge made by banger-helper"
                       + " (theirs: " + (owned.empty() ? "none" : owned)
                       + "): the helper binds only banger's bridge addresses; "
                         "create the bridge with helper.ensure_bridge first");
  fd = bind_udp(*ip, req.port);
  return {to_string(*ip), req.port};
}

helper_bind_tap_reply operations::bind_tap(const helper_bind_tap& req) {
  require(check_tap_name(req.name, opts_.tap_prefix));
  require(check_guest_ip(req.guest_ip));
  require(check_mac(req.mac));
  auto ip = *parse_ipv4(req.guest_ip);
  const auto& br = opts_.bridge_cidr;
  auto host = ip.value & ~br.mask();
  if (!br.contains(ip) || ip == br.addr || host == 0 || host == ~br.mask())
    throw op_error(helper_code::invalid_argument,
                   "guest address " + q(req.guest_ip)
                       + " is not a guest address of banger-helper's subnet "
                       + to_string(br)
                       + " (not the bridge's own, network or broadcast "
                         "address): a TAP binds only an address of its bridge");
  auto tap = nl_.find(req.name);
  if (!tap)
    throw op_error(helper_code::not_found,
                   "TAP " + q(req.name)
                       + " does not exist: create it with helper.create_tap "
                         "first");
  if (tap->kind != "tun" || tap->alias != tap_mark)
    throw op_error(helper_code::bad_state,
                   "link " + q(req.name)
                       + " is not a TAP created by "
                         "banger-helper: the helper binds only its own TAPs");
  drop_stale_bindings();
  // One guest per address and per MAC: no TAP may claim another's.
  for (auto& b : nft_.bindings()) {
    if (b.tap == req.name)
      continue;
    if (b.guest_ip == to_string(ip) || b.mac == req.mac)
      throw op_error(helper_code::already_exists,
                     "TAP " + q(b.tap) + " is bound to " + b.guest_ip + " and "
                         + b.mac
                         + ": a TAP may not send as another guest; "
                           "delete that TAP (helper.delete_tap) first");
  }
  bool changed = nft_.bind_tap(req.name, ip, req.mac);
  return {req.name, to_string(ip), req.mac, changed};
}

helper_list_reply operations::list() {
  helper_list_reply reply;
  auto links = nl_.links();
  auto name_of = [&](int index) {
    for (auto& l : links)
      if (l.index == index)
        return l.name;
    return std::string();
  };
  auto bindings = nft_.bindings();
  for (auto& l : links) {
    if (l.kind == "bridge" && l.alias == bridge_mark) {
      helper_bridge b{l.name, {}, l.up};
      for (auto& a : nl_.addresses(l.index))
        b.addresses.push_back(to_string(a));
      reply.bridges.push_back(std::move(b));
    } else if (l.kind == "tun" && l.alias == tap_mark
               && !check_tap_name(l.name, opts_.tap_prefix)) {
      auto info = nl_.tun(l.index);
      helper_tap t{l.name,
                   info && info->owner ? *info->owner : 0,
                   l.master ? name_of(l.master) : std::string(),
                   l.up,
                   {},
                   {}};
      for (auto& b : bindings)
        if (b.tap == l.name) {
          t.guest_ip = b.guest_ip;
          t.mac = b.mac;
        }
      reply.taps.push_back(std::move(t));
    }
  }
  reply.nat = nft_.rules();
  return reply;
}

} // namespace banger::helper
