#include "helper/nft.hpp"

#include <nftables/libnftables.h>

#include "helper/error.hpp"

namespace banger::helper {

using wire::json;

json nft_command(const char* verb, const char* kind, json spec) {
  json inner = json::object();
  inner[kind] = std::move(spec);
  json outer = json::object();
  outer[verb] = std::move(inner);
  return outer;
}

namespace {

json table_ref() {
  return {{"family", "ip"}, {"name", nft_table}};
}

json chain_spec() {
  return {{"family", "ip"},    {"table", nft_table},    {"name", nft_chain},
          {"type", "nat"},     {"hook", "postrouting"}, {"prio", 100},
          {"policy", "accept"}};
}

json delete_rule(std::uint64_t handle) {
  return nft_command("delete", "rule",
                     {{"family", "ip"},
                      {"table", nft_table},
                      {"chain", nft_chain},
                      {"handle", handle}});
}

std::string comment_of(ipv4 guest) {
  return nft_comment_prefix + to_string(guest);
}

// The bridge of a rule this helper wrote: the right side of its
// `oifname != "..."` match.
std::string bridge_of(const json& expr) {
  if (!expr.is_array())
    return {};
  for (auto& e : expr) {
    auto m = e.find("match");
    if (m == e.end() || !m->is_object())
      continue;
    auto left = m->value("left", json());
    if (left.is_object() && left.contains("meta")
        && left["meta"].value("key", "") == "oifname"
        && m->value("right", json()).is_string())
      return (*m)["right"].get<std::string>();
  }
  return {};
}

} // namespace

nft::nft() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (ctx_ == nullptr)
    throw op_error("internal", "cannot create an nftables context");
  nft_ctx_output_set_flags(ctx_, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  nft_ctx_buffer_output(ctx_);
  nft_ctx_buffer_error(ctx_);
}

nft::~nft() {
  nft_ctx_free(ctx_);
}

json nft::run(const json& commands, const std::string& what) {
  json doc = {{"nftables", commands}};
  auto text = doc.dump();
  if (nft_run_cmd_from_buffer(ctx_, text.c_str()) != 0) {
    std::string err = nft_ctx_get_error_buffer(ctx_);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' '))
      err.pop_back();
    throw op_error("internal", "nftables refused to " + what + ": " + err
                                   + " (is the nf_tables module available?)");
  }
  std::string out = nft_ctx_get_output_buffer(ctx_);
  if (out.empty())
    return json::object();
  auto parsed = json::parse(out, nullptr, false);
  if (parsed.is_discarded())
    throw op_error("internal", "nftables answered unreadable JSON to " + what);
  return parsed;
}

std::vector<nft::rule_ref> nft::list() {
  // Listing a missing table is an error in nft: look for it first.
  auto tables =
      run(json::array({nft_command("list", "tables", nullptr)}), "list tables");
  bool found = false;
  for (auto& item : tables.value("nftables", json::array()))
    if (auto t = item.find("table"); t != item.end() && t->is_object()
                                     && t->value("family", "") == "ip"
                                     && t->value("name", "") == nft_table)
      found = true;
  std::vector<rule_ref> out;
  if (!found)
    return out;
  auto listing = run(json::array({nft_command("list", "table", table_ref())}),
                     "list table ip banger");
  for (auto& item : listing.value("nftables", json::array())) {
    auto r = item.find("rule");
    if (r == item.end() || !r->is_object()
        || r->value("chain", "") != nft_chain)
      continue;
    auto comment = r->value("comment", "");
    if (comment.rfind(nft_comment_prefix, 0) != 0)
      continue;
    rule_ref ref;
    ref.rule.guest_ip = comment.substr(std::string(nft_comment_prefix).size());
    ref.rule.bridge = bridge_of(r->value("expr", json()));
    ref.handle = r->value("handle", std::uint64_t{0});
    out.push_back(std::move(ref));
  }
  return out;
}

std::vector<helper_nat_rule> nft::rules() {
  std::vector<helper_nat_rule> out;
  for (auto& ref : list())
    out.push_back(ref.rule);
  return out;
}

bool nft::add_masquerade(ipv4 guest, const std::string& bridge) {
  auto ip = to_string(guest);
  // "add" of an existing table or identical chain is a no-op in nftables.
  run(json::array({nft_command("add", "table", table_ref()),
                   nft_command("add", "chain", chain_spec())}),
      "create table ip banger");
  bool same = false;
  json deletes = json::array();
  for (auto& ref : list()) {
    if (ref.rule.guest_ip != ip)
      continue;
    if (ref.rule.bridge == bridge && !same) {
      same = true;
      continue;
    }
    deletes.push_back(delete_rule(ref.handle));
  }
  if (!deletes.empty())
    run(deletes, "remove stale rules of " + ip);
  if (same)
    return false;
  json saddr = {{"payload", {{"protocol", "ip"}, {"field", "saddr"}}}};
  json oifname = {{"meta", {{"key", "oifname"}}}};
  json masquerade = json::object();
  masquerade["masquerade"] = nullptr;
  json expr = json::array();
  expr.push_back({{"match", {{"op", "=="}, {"left", saddr}, {"right", ip}}}});
  expr.push_back(
      {{"match", {{"op", "!="}, {"left", oifname}, {"right", bridge}}}});
  expr.push_back(masquerade);
  json rule = {{"family", "ip"},
               {"table", nft_table},
               {"chain", nft_chain},
               {"comment", comment_of(guest)},
               {"expr", expr}};
  run(json::array({nft_command("add", "rule", rule)}),
      "add the masquerade rule of " + ip);
  return true;
}

std::uint32_t nft::remove_masquerade(ipv4 guest) {
  auto ip = to_string(guest);
  json deletes = json::array();
  for (auto& ref : list())
    if (ref.rule.guest_ip == ip)
      deletes.push_back(delete_rule(ref.handle));
  if (!deletes.empty())
    run(deletes, "remove the masquerade rule of " + ip);
  return static_cast<std::uint32_t>(deletes.size());
}

} // namespace banger::helper
