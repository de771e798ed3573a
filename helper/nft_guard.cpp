// The guard rules of nft.hpp: per-TAP anti-spoofing in table bridge banger,
// and the host's input filter for the bridge in table inet banger. Like the
// NAT rules, built as libnftables JSON from validated values; every change
// is one batch, which nftables applies as one transaction.

#include <algorithm>

#include "helper/error.hpp"
#include "helper/nft.hpp"

namespace banger::helper {

using wire::json;

namespace {

constexpr const char* prerouting = "prerouting";
constexpr const char* input = "input";
constexpr const char* tap_tag = "banger:tap ";
constexpr const char* bridge_tag = "banger:bridge ";

json verdict(const char* v) {
  json j = json::object();
  j[v] = nullptr;
  return j;
}

json match(const char* op, json left, json right) {
  return {{"match", {{"op", op}, {"left", left}, {"right", right}}}};
}

json payload(const char* protocol, const char* field) {
  return {{"payload", {{"protocol", protocol}, {"field", field}}}};
}

json meta(const char* key) {
  return {{"meta", {{"key", key}}}};
}

json rule(const char* family, const std::string& chain, json expr,
          const std::string& comment = {}) {
  json r = {{"family", family},
            {"table", nft_table},
            {"chain", chain},
            {"expr", std::move(expr)}};
  if (!comment.empty())
    r["comment"] = comment;
  return r;
}

json base_chain(const char* family, const char* name, const char* hook,
                int prio) {
  return {{"family", family},  {"table", nft_table}, {"name", name},
          {"type", "filter"},  {"hook", hook},       {"prio", prio},
          {"policy", "accept"}};
}

json chain_ref(const char* family, const std::string& name) {
  return {{"family", family}, {"table", nft_table}, {"name", name}};
}

json delete_rule(const char* family, const std::string& chain,
                 std::uint64_t handle) {
  return nft_command("delete", "rule",
                     {{"family", family},
                      {"table", nft_table},
                      {"chain", chain},
                      {"handle", handle}});
}

std::string tap_chain(const std::string& tap) {
  return "tap_" + tap;
}

std::string binding_comment(const std::string& tap, ipv4 ip,
                            const std::string& mac) {
  return tap_tag + tap + " " + to_string(ip) + " " + mac;
}

} // namespace

bool nft::has_table(const char* family) {
  auto tables =
      run(json::array({nft_command("list", "tables", nullptr)}), "list tables");
  for (auto& item : tables.value("nftables", json::array()))
    if (auto t = item.find("table"); t != item.end() && t->is_object()
                                     && t->value("family", "") == family
                                     && t->value("name", "") == nft_table)
      return true;
  return false;
}

std::vector<nft::tagged_rule> nft::tagged(const char* family,
                                          const std::string& prefix,
                                          std::vector<std::string>* chains) {
  std::vector<tagged_rule> out;
  if (!has_table(family))
    return out;
  auto listing =
      run(json::array({nft_command("list", "table",
                                   {{"family", family}, {"name", nft_table}})}),
          std::string("list table ") + family + " banger");
  for (auto& item : listing.value("nftables", json::array())) {
    if (auto c = item.find("chain"); c != item.end() && c->is_object()) {
      if (chains)
        chains->push_back(c->value("name", ""));
      continue;
    }
    auto r = item.find("rule");
    if (r == item.end() || !r->is_object())
      continue;
    auto comment = r->value("comment", "");
    if (comment.rfind(prefix, 0) != 0)
      continue;
    out.push_back(
        {comment, r->value("chain", ""), r->value("handle", std::uint64_t{0})});
  }
  return out;
}

void nft::ensure_guard(const std::string& bridge, ipv4 addr,
                       const std::string& tap_prefix) {
  auto tag = bridge_tag + bridge;
  auto br = match("==", meta("iifname"), bridge);
  json host = json::array();
  host.push_back(rule("inet", input,
                      {br,
                       match("in", json{{"ct", {{"key", "state"}}}},
                             json::array({"established", "related"})),
                       verdict("accept")},
                      tag));
  for (const char* proto : {"udp", "tcp"})
    host.push_back(
        rule("inet", input,
             {br, match("==", payload("ip", "daddr"), to_string(addr)),
              match("==", payload(proto, "dport"), 53), verdict("accept")},
             tag));
  host.push_back(rule("inet", input, {br, verdict("drop")}, tag));
  // Unbound TAPs of this helper send nothing; bound ones jump (inserted
  // before this rule) to their chain and end in accept or drop there.
  json taps = json::array({rule(
      "bridge", prerouting,
      {match("==", meta("iifname"), tap_prefix + "*"), verdict("drop")}, tag)});
  // The comment names the bridge only: compare the whole rules to notice a
  // changed address or prefix.
  // Exactly this bridge's ("banger:bridge bge1" is a prefix of "... bge10").
  auto exact = [&](std::vector<tagged_rule> rules) {
    std::erase_if(rules,
                  [&](const tagged_rule& r) { return r.comment != tag; });
    return rules;
  };
  auto present_host = exact(tagged("inet", tag));
  auto present_taps = exact(tagged("bridge", tag));
  auto same = [&](const char* family, const std::vector<tagged_rule>& have,
                  const json& want) {
    if (have.size() != want.size())
      return false;
    auto listing =
        run(json::array({nft_command(
                "list", "table", {{"family", family}, {"name", nft_table}})}),
            std::string("list table ") + family + " banger");
    std::vector<json> exprs;
    for (auto& item : listing.value("nftables", json::array()))
      if (auto r = item.find("rule");
          r != item.end() && r->value("comment", "") == tag)
        exprs.push_back(r->value("expr", json()));
    if (exprs.size() != want.size())
      return false;
    for (std::size_t i = 0; i < want.size(); ++i)
      if (exprs[i].dump() != want[i]["expr"].dump())
        return false;
    return true;
  };
  bool host_ok = !present_host.empty() && same("inet", present_host, host);
  bool taps_ok = !present_taps.empty() && same("bridge", present_taps, taps);
  if (host_ok && taps_ok)
    return;
  json batch = json::array(
      {nft_command("add", "table", {{"family", "inet"}, {"name", nft_table}}),
       nft_command("add", "chain", base_chain("inet", input, "input", 0)),
       nft_command("add", "table", {{"family", "bridge"}, {"name", nft_table}}),
       nft_command("add", "chain",
                   base_chain("bridge", prerouting, "prerouting", -200))});
  if (!host_ok) {
    for (auto& r : present_host)
      batch.push_back(delete_rule("inet", r.chain, r.handle));
    for (auto& r : host)
      batch.push_back(nft_command("add", "rule", r));
  }
  if (!taps_ok) {
    for (auto& r : present_taps)
      batch.push_back(delete_rule("bridge", r.chain, r.handle));
    for (auto& r : taps)
      batch.push_back(nft_command("add", "rule", r));
  }
  run(batch, "install the guard rules of bridge " + bridge);
}

std::vector<nft::tap_binding> nft::bindings() {
  std::vector<tap_binding> out;
  for (auto& r : tagged("bridge", tap_tag)) {
    // "banger:tap <tap> <ip> <mac>"
    auto rest = r.comment.substr(std::string(tap_tag).size());
    auto sp1 = rest.find(' ');
    auto sp2 = sp1 == std::string::npos ? sp1 : rest.find(' ', sp1 + 1);
    tap_binding b;
    b.tap = rest.substr(0, sp1);
    if (sp2 != std::string::npos) {
      b.guest_ip = rest.substr(sp1 + 1, sp2 - sp1 - 1);
      b.mac = rest.substr(sp2 + 1);
    }
    out.push_back(std::move(b));
  }
  return out;
}

bool nft::bind_tap(const std::string& tap, ipv4 ip, const std::string& mac) {
  auto comment = binding_comment(tap, ip, mac);
  auto present = tagged("bridge", tap_tag + tap + " ");
  if (present.size() == 1 && present.front().comment == comment)
    return false;
  auto chain = tap_chain(tap);
  auto addr = to_string(ip);
  json batch = json::array(
      {nft_command("add", "table", {{"family", "bridge"}, {"name", nft_table}}),
       nft_command("add", "chain",
                   base_chain("bridge", prerouting, "prerouting", -200)),
       nft_command("add", "chain", chain_ref("bridge", chain)),
       nft_command("flush", "chain", chain_ref("bridge", chain))});
  for (auto& r : present)
    batch.push_back(delete_rule("bridge", r.chain, r.handle));
  auto drop_unless = [&](json left, json right) {
    batch.push_back(nft_command(
        "add", "rule",
        rule("bridge", chain, {match("!=", left, right), verdict("drop")})));
  };
  drop_unless(payload("ether", "saddr"), mac);
  drop_unless(payload("ether", "type"), {{"set", {"ip", "arp"}}});
  drop_unless(payload("arp", "saddr ether"), mac);
  drop_unless(payload("arp", "saddr ip"), addr);
  drop_unless(payload("ip", "saddr"), addr);
  batch.push_back(
      nft_command("add", "rule", rule("bridge", chain, {verdict("accept")})));
  // Inserted: before the prefix's catch-all drop.
  batch.push_back(nft_command(
      "insert", "rule",
      rule("bridge", prerouting,
           {match("==", meta("iifname"), tap), {{"jump", {{"target", chain}}}}},
           comment)));
  run(batch, "bind TAP " + tap + " to " + addr + " and " + mac);
  return true;
}

bool nft::unbind_tap(const std::string& tap) {
  std::vector<std::string> chains;
  auto present = tagged("bridge", tap_tag + tap + " ", &chains);
  auto chain = tap_chain(tap);
  bool has_chain =
      std::find(chains.begin(), chains.end(), chain) != chains.end();
  if (present.empty() && !has_chain)
    return false;
  json batch = json::array();
  for (auto& r : present)
    batch.push_back(delete_rule("bridge", r.chain, r.handle));
  if (has_chain) {
    batch.push_back(nft_command("flush", "chain", chain_ref("bridge", chain)));
    batch.push_back(nft_command("delete", "chain", chain_ref("bridge", chain)));
  }
  run(batch, "remove the binding of TAP " + tap);
  return !present.empty();
}

} // namespace banger::helper
