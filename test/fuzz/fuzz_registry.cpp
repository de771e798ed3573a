// The registry's JSON documents (services/registry_json): the input is one
// body as a registry or token server could send it, read as a manifest, an
// index, an image manifest, a token reply and an image config. Checked:
// every parser returns a value or an error with a message (no exception
// escapes, no crash), and what it accepts holds what the pull relies on
// (sha256 digests, sizes >= 0, a non-empty token).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "services/error.hpp"
#include "services/oci_ref.hpp"
#include "services/registry_json.hpp"

using namespace banger;

namespace {

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "fuzz: %s\n", what.c_str());
  std::abort();
}

template <class T> bool check(const caf::expected<T>& r, const char* what) {
  if (!r && error_message(r.error()).empty())
    bug(std::string(what) + " failed without a message");
  return static_cast<bool>(r);
}

void check_descriptor(const oci_descriptor& d, const char* what) {
  if (!is_sha256_digest(d.digest) || d.size < 0)
    bug(std::string(what) + " accepted a descriptor with digest '" + d.digest
        + "' and size " + std::to_string(d.size));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  // The Content-Type header is as untrusted as the body: a slice of it.
  auto mt = manifest_media_type(body, body.substr(0, size % 64));
  if (check(mt, "manifest_media_type") && mt->empty())
    bug("manifest_media_type gave an empty media type");
  if (auto index = parse_index(body); check(index, "parse_index"))
    for (auto& d : *index)
      check_descriptor(d, "parse_index");
  if (auto m = parse_image_manifest(body); check(m, "parse_image_manifest")) {
    check_descriptor(m->config, "parse_image_manifest");
    for (auto& d : m->layers) {
      check_descriptor(d, "parse_image_manifest");
      check(layer_compression_of(d.media_type), "layer_compression_of");
    }
  }
  if (auto t = parse_token_reply(body);
      check(t, "parse_token_reply") && t->empty())
    bug("parse_token_reply accepted an empty token");
  check(parse_image_config(body), "parse_image_config");
  return 0;
}
