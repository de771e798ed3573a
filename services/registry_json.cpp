#include "services/registry_json.hpp"

#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "services/error.hpp"
#include "services/oci_ref.hpp"

namespace banger {

namespace {

using json = nlohmann::json;

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string{s.substr(b, e - b + 1)};
}

// nlohmann throws on malformed input and on wrong types (value() on a
// non-object, get<> of the wrong kind); both mean a malformed document.
caf::expected<json> parse_object(std::string_view body, std::string_view what) {
  json j;
  try {
    j = json::parse(body);
  } catch (const std::exception& e) {
    return make_error(ec::protocol,
                      fmt::format("{} is not valid JSON ({})", what, e.what()));
  }
  if (!j.is_object())
    return make_error(ec::protocol,
                      fmt::format("{} is not a JSON object", what));
  return j;
}

caf::expected<oci_descriptor> descriptor(const json& j, std::string_view what) {
  oci_descriptor d;
  try {
    d.media_type = j.value("mediaType", "");
    d.digest = j.at("digest").get<std::string>();
    d.size = j.at("size").get<std::int64_t>();
    if (auto p = j.find("platform"); p != j.end()) {
      d.platform.os = p->value("os", "");
      d.platform.architecture = p->value("architecture", "");
      d.platform.variant = p->value("variant", "");
    }
  } catch (const std::exception& e) {
    return make_error(ec::protocol, fmt::format("malformed {} descriptor ({})",
                                                what, e.what()));
  }
  if (!is_sha256_digest(d.digest))
    return make_error(
        ec::protocol,
        fmt::format("{} digest '{}' is not a sha256 digest", what, d.digest));
  if (d.size < 0)
    return make_error(ec::protocol,
                      fmt::format("{} {} has a negative size", what, d.digest));
  // 1 PiB: no image has it, and sums of sizes never overflow.
  if (d.size > (std::int64_t{1} << 50))
    return make_error(ec::protocol,
                      fmt::format("{} {} claims {} bytes, which no image has",
                                  what, d.digest, d.size));
  return d;
}

} // namespace

caf::expected<std::string> manifest_media_type(std::string_view body,
                                               std::string_view content_type) {
  auto j = parse_object(body, "the manifest");
  if (!j)
    return j.error();
  std::string mt;
  try {
    mt = j->value("mediaType", "");
  } catch (const std::exception& e) {
    return make_error(
        ec::protocol,
        fmt::format("the manifest's mediaType is not a string ({})", e.what()));
  }
  if (mt.empty())
    mt = trim(content_type.substr(0, content_type.find(';')));
  // Untyped OCI documents: an index has "manifests", a manifest "config".
  if (mt.empty() || mt == "application/json")
    mt = j->contains("manifests") ? mt_oci_index : mt_oci_manifest;
  return mt;
}

caf::expected<std::vector<oci_descriptor>> parse_index(std::string_view body) {
  auto j = parse_object(body, "the index");
  if (!j)
    return j.error();
  auto m = j->find("manifests");
  if (m == j->end() || !m->is_array())
    return make_error(ec::protocol, "the index has no manifest list");
  std::vector<oci_descriptor> entries;
  for (auto& e : *m) {
    auto d = descriptor(e, "index entry");
    if (!d)
      return d.error();
    entries.push_back(std::move(*d));
  }
  return entries;
}

caf::expected<image_manifest> parse_image_manifest(std::string_view body) {
  auto j = parse_object(body, "the image manifest");
  if (!j)
    return j.error();
  auto v = j->find("schemaVersion");
  if (v == j->end() || !v->is_number_integer() || *v != 2)
    return make_error(ec::invalid_argument,
                      "the manifest's schemaVersion is not 2");
  auto c = j->find("config");
  auto l = j->find("layers");
  if (c == j->end() || l == j->end() || !l->is_array())
    return make_error(ec::protocol,
                      "malformed image manifest (it needs a config and a list "
                      "of layers)");
  image_manifest out;
  auto config = descriptor(*c, "config");
  if (!config)
    return config.error();
  out.config = std::move(*config);
  for (auto& e : *l) {
    auto d = descriptor(e, "layer");
    if (!d)
      return d.error();
    out.layers.push_back(std::move(*d));
  }
  return out;
}

caf::expected<std::string> parse_token_reply(std::string_view body) {
  auto j = parse_object(body, "the token reply");
  if (!j)
    return j.error();
  std::string token;
  try {
    token = j->value("token", "");
    if (token.empty())
      token = j->value("access_token", "");
  } catch (const std::exception& e) {
    return make_error(
        ec::protocol,
        fmt::format("the token reply is malformed ({})", e.what()));
  }
  if (token.empty())
    return make_error(ec::protocol, "the token reply holds no token");
  return token;
}

caf::expected<oci_platform> parse_image_config(std::string_view body) {
  auto j = parse_object(body, "the image config");
  if (!j)
    return j.error();
  oci_platform p;
  try {
    p.os = j->value("os", "");
    p.architecture = j->value("architecture", "");
    p.variant = j->value("variant", "");
  } catch (const std::exception& e) {
    return make_error(
        ec::protocol,
        fmt::format("the image config is malformed ({})", e.what()));
  }
  return p;
}

caf::expected<layer_compression>
layer_compression_of(std::string_view media_type) {
  static const std::pair<std::string_view, layer_compression> known[] = {
      {"application/vnd.oci.image.layer.v1.tar", layer_compression::none},
      {"application/vnd.oci.image.layer.v1.tar+gzip", layer_compression::gzip},
      {"application/vnd.oci.image.layer.v1.tar+zstd", layer_compression::zstd},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar",
       layer_compression::none},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
       layer_compression::gzip},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
       layer_compression::zstd},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip",
       layer_compression::gzip},
      {"application/vnd.docker.image.rootfs.diff.tar.zstd",
       layer_compression::zstd},
      {"application/vnd.docker.image.rootfs.diff.tar", layer_compression::none},
  };
  for (auto& [mt, c] : known)
    if (media_type == mt)
      return c;
  return make_error(
      ec::invalid_argument,
      fmt::format(
          "layer media type '{}' is not supported (tar, tar+gzip, tar+zstd)",
          media_type));
}

} // namespace banger
