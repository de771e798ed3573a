#include "services/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "services/catalog_source.hpp"
#include "services/error.hpp"
#include "services/names.hpp"
#include "services/sha256.hpp"

namespace banger {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

caf::error bad(const std::string& source, const std::string& what) {
  return make_error(ec::invalid_argument,
                    fmt::format("catalog {}: {}; fix the catalog (its format "
                                "is in docs/catalog.md)",
                                source, what));
}

const std::set<std::string> image_keys{"name",    "url",        "sha256",
                                       "size",    "arch",       "kernel",
                                       "version", "description"};
const std::set<std::string> kernel_keys{"name", "url",     "sha256",     "size",
                                        "arch", "version", "description"};

// Reads an optional string field; wrong type is an error.
caf::expected<std::string> string_field(const json& e, const char* key,
                                        const std::string& source,
                                        const std::string& label) {
  if (!e.contains(key))
    return std::string{};
  if (!e[key].is_string())
    return bad(source, fmt::format("{}: {} must be a string", label, key));
  return e[key].get<std::string>();
}

caf::expected<catalog_entry> parse_entry(const json& e, const std::string& kind,
                                         std::size_t index,
                                         const std::string& source) {
  auto label = fmt::format("{} entry {}", kind, index + 1);
  if (!e.is_object())
    return bad(source, label + " is not an object");
  if (e.contains("name") && e["name"].is_string())
    label += fmt::format(" (\"{}\")", e["name"].get<std::string>());
  const auto& known = kind == "image" ? image_keys : kernel_keys;
  for (auto& [k, v] : e.items())
    if (known.count(k) == 0)
      return bad(source, fmt::format("{}: unknown key \"{}\"", label, k));
  catalog_entry out;
  out.kind = kind;
  out.source = source;
  for (auto [key, field] :
       {std::pair{"name", &out.name}, std::pair{"url", &out.url},
        std::pair{"sha256", &out.sha256}, std::pair{"arch", &out.arch},
        std::pair{"kernel", &out.kernel}, std::pair{"version", &out.version},
        std::pair{"description", &out.description}}) {
    auto v = string_field(e, key, source, label);
    if (!v)
      return v.error();
    *field = std::move(*v);
  }
  if (out.name.empty())
    return bad(source, label + ": name is missing");
  if (auto why = validate_object_name(kind, out.name); !why.empty())
    return bad(source, label + ": " + why);
  if (out.url.empty())
    return bad(source, label + ": url is missing");
  auto url = resolve_catalog_url(source, out.url);
  if (!url)
    return bad(source, label + ": " + error_message(url.error()));
  out.url = std::move(*url);
  std::transform(out.sha256.begin(), out.sha256.end(), out.sha256.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (!is_sha256_hex(out.sha256))
    return bad(source,
               fmt::format("{}: sha256 \"{}\" is not 64 hex digits (the "
                           "output of sha256sum)",
                           label, out.sha256));
  if (!e.contains("size"))
    return bad(source, label + ": size is missing");
  if (!e["size"].is_number_unsigned() || e["size"].get<std::uint64_t>() == 0)
    return bad(source, label
                           + ": size must be the bundle's size in bytes (a "
                             "positive integer)");
  out.size = e["size"].get<std::uint64_t>();
  if (out.arch != "amd64" && out.arch != "arm64")
    return bad(source,
               fmt::format("{}: arch \"{}\" must be \"amd64\" or \"arm64\"",
                           label, out.arch));
  if (!out.kernel.empty())
    if (auto why = validate_object_name("kernel", out.kernel); !why.empty())
      return bad(source, label + ": kernel: " + why);
  return out;
}

} // namespace

caf::expected<std::vector<catalog_entry>>
parse_catalog(std::string_view text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const std::exception& e) {
    return bad(source, fmt::format("not valid JSON ({})", e.what()));
  }
  if (!root.is_object())
    return bad(source, "the top level is not an object");
  for (auto& [k, v] : root.items())
    if (k != "version" && k != "images" && k != "kernels")
      return bad(source, fmt::format("unknown top-level key \"{}\"", k));
  if (!root.contains("version") || !root["version"].is_number_integer())
    return bad(source, "\"version\" is missing (this banger reads version 1)");
  if (root["version"].get<std::int64_t>() != 1)
    return bad(source,
               fmt::format("version {} is not supported (this banger reads "
                           "version 1; a newer banger may read it)",
                           root["version"].dump()));
  std::vector<catalog_entry> out;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (auto [key, kind] :
       {std::pair{"images", "image"}, std::pair{"kernels", "kernel"}}) {
    if (!root.contains(key))
      continue;
    if (!root[key].is_array())
      return bad(source, fmt::format("\"{}\" must be an array", key));
    std::size_t i = 0;
    for (auto& e : root[key]) {
      auto entry = parse_entry(e, kind, i++, source);
      if (!entry)
        return entry.error();
      if (!seen.emplace(entry->kind, entry->name, entry->arch).second)
        return bad(source, fmt::format("{} \"{}\" for {} is listed twice", kind,
                                       entry->name, entry->arch));
      out.push_back(std::move(*entry));
    }
  }
  return out;
}

std::string default_catalog_path() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    return {};
  return (exe.parent_path() / ".." / "share" / "banger" / "catalog.json")
      .lexically_normal()
      .string();
}

caf::expected<std::vector<catalog_entry>>
load_catalogs(const std::vector<std::string>& sources,
              const catalog_load_options& opts) {
  std::vector<std::string> all;
  if (!opts.builtin.empty())
    all.push_back(opts.builtin);
  all.insert(all.end(), sources.begin(), sources.end());
  // (kind, name) -> entries of the last catalog naming it.
  std::map<std::pair<std::string, std::string>, std::vector<catalog_entry>>
      merged;
  for (std::size_t i = 0; i < all.size(); ++i) {
    bool builtin = i == 0 && !opts.builtin.empty();
    auto text = read_catalog_source(all[i], opts);
    if (!text) {
      if (builtin && error_code(text.error()) == ec::not_found)
        continue;
      return text.error();
    }
    auto entries = parse_catalog(*text, all[i]);
    if (!entries)
      return entries.error();
    std::map<std::pair<std::string, std::string>, std::vector<catalog_entry>>
        mine;
    for (auto& e : *entries)
      mine[{e.kind, e.name}].push_back(std::move(e));
    for (auto& [key, list] : mine)
      merged[key] = std::move(list);
  }
  std::vector<catalog_entry> out;
  for (auto& [key, list] : merged)
    for (auto& e : list)
      out.push_back(std::move(e));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.kind, a.name, a.arch) < std::tie(b.kind, b.name, b.arch);
  });
  return out;
}

std::optional<catalog_entry>
find_entry(const std::vector<catalog_entry>& entries, std::string_view kind,
           std::string_view name, std::string_view arch) {
  for (auto& e : entries)
    if (e.kind == kind && e.name == name && (arch.empty() || e.arch == arch))
      return e;
  return std::nullopt;
}

std::string host_arch() {
#if defined(__aarch64__)
  return "arm64";
#else
  return "amd64";
#endif
}

} // namespace banger
