#include "services/oci_ref.hpp"
#include "services/sha256.hpp"

#include <regex>

#include <fmt/format.h>

#include "services/error.hpp"

namespace banger {
namespace {

constexpr std::string_view hub = "registry-1.docker.io";

caf::error bad(std::string_view text, const std::string& why) {
  return make_error(
      ec::invalid_argument,
      fmt::format("image reference '{}' is invalid: {}", text, why));
}


// host[:port] with DNS-style labels, or a bracketed IPv6 address[:port].
bool valid_registry(const std::string& host) {
  static const std::regex re(
      R"(((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?)");
  return std::regex_match(host, re);
}

bool valid_component(const std::string& c) {
  static const std::regex re(R"([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)");
  return std::regex_match(c, re);
}

bool valid_tag(const std::string& t) {
  static const std::regex re(R"([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
  return std::regex_match(t, re);
}

} // namespace

bool is_sha256_digest(std::string_view digest) {
  return digest.size() == 71 && digest.substr(0, 7) == "sha256:"
         && is_sha256_hex(digest.substr(7));
}

std::string oci_ref::str() const {
  auto out = registry + "/" + repository;
  if (!tag.empty())
    out += ":" + tag;
  if (!digest.empty())
    out += "@" + digest;
  return out;
}

caf::expected<oci_ref> parse_oci_ref(std::string_view text) {
  if (text.empty())
    return bad(text, "it is empty");
  for (unsigned char c : text)
    if (c <= ' ' || c >= 0x7f)
      return bad(text, "it contains whitespace or a non-ASCII character");
  oci_ref ref;
  std::string rest{text};
  if (auto at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest.resize(at);
    if (ref.digest.rfind("sha256:", 0) != 0)
      return bad(text, fmt::format("digest '{}' is not sha256:<64 hex digits> "
                                   "(only sha256 is supported)",
                                   ref.digest));
    if (!is_sha256_digest(ref.digest))
      return bad(
          text, fmt::format("digest '{}' does not have 64 lowercase hex digits",
                            ref.digest));
  }
  // A tag is a ':' after the last '/' (a ':' before it is a registry port).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos
      && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (!valid_tag(ref.tag))
      return bad(
          text,
          fmt::format("tag '{}' must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}",
                      ref.tag));
  }
  if (rest.empty())
    return bad(text, "the repository name is missing");
  // Split off the registry: Docker's rule on the first component.
  std::string registry;
  std::string path = rest;
  if (auto first = rest.find('/'); first != std::string::npos) {
    auto head = rest.substr(0, first);
    if (head.find_first_of(".:") != std::string::npos || head == "localhost") {
      registry = head;
      path = rest.substr(first + 1);
    }
  }
  if (registry.empty() || registry == "docker.io"
      || registry == "index.docker.io") {
    if (!registry.empty() && path.empty())
      return bad(text, "the repository name is missing");
    if (registry.empty() && is_sha256_hex(rest) && ref.tag.empty()
        && ref.digest.empty())
      return bad(
          text,
          "a bare 64-hex-digit name looks like an image ID, not a reference");
    registry = std::string{hub};
    if (path.find('/') == std::string::npos)
      path = "library/" + path;
  } else if (!valid_registry(registry)) {
    return bad(text,
               fmt::format("registry '{}' is not a host[:port]", registry));
  }
  if (path.empty())
    return bad(text, "the repository name is missing");
  if (path.size() > 255)
    return bad(text, "the repository name is longer than 255 characters");
  std::size_t start = 0;
  while (true) {
    auto end = path.find('/', start);
    auto comp = path.substr(start, end == std::string::npos ? std::string::npos
                                                            : end - start);
    if (comp.empty())
      return bad(text, "the repository name has an empty path component");
    for (char c : comp)
      if (c >= 'A' && c <= 'Z')
        return bad(
            text,
            fmt::format("repository component '{}' must be lowercase", comp));
    if (!valid_component(comp))
      return bad(
          text,
          fmt::format("repository component '{}' must be lowercase letters and "
                      "digits separated by '.', '_', '__' or dashes",
                      comp));
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  ref.registry = std::move(registry);
  ref.repository = std::move(path);
  if (ref.tag.empty() && ref.digest.empty())
    ref.tag = "latest";
  return ref;
}

} // namespace banger
