#include "services/catalog_source.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "services/error.hpp"
#include "services/http_get.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_catalog_bytes = 4 << 20;

// "HTTP" in "HTTP://x", lowercased; "" without a scheme.
std::string scheme_of(std::string_view s) {
  auto sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return {};
  std::string out;
  for (char c : s.substr(0, sep)) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '+' && c != '-'
        && c != '.')
      return {};
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool is_http(const std::string& scheme) {
  return scheme == "http" || scheme == "https";
}

// RFC 3986 remove_dot_segments for an absolute path (query kept as is).
std::string normalize_path(const std::string& target) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto query = q == std::string::npos ? "" : target.substr(q);
  std::vector<std::string> in;
  for (std::size_t i = 1;;) {
    auto j = path.find('/', i);
    in.push_back(path.substr(i, j == std::string::npos ? j : j - i));
    if (j == std::string::npos)
      break;
    i = j + 1;
  }
  std::vector<std::string> out;
  for (std::size_t k = 0; k < in.size(); ++k) {
    bool last = k + 1 == in.size();
    if (in[k] == "." || in[k] == "..") {
      if (in[k] == ".." && !out.empty())
        out.pop_back();
      if (last)
        out.emplace_back(); // "a/." and "a/.." name a directory
      continue;
    }
    out.push_back(in[k]);
  }
  std::string result;
  for (auto& s : out)
    result += "/" + s;
  return (result.empty() ? "/" : result) + query;
}

} // namespace

std::optional<std::string> file_url_path(std::string_view url) {
  if (scheme_of(url) != "file")
    return std::nullopt;
  auto rest = url.substr(url.find("://") + 3);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto host = rest.substr(0, slash);
  if (!host.empty() && host != "localhost")
    return std::nullopt;
  std::string out;
  auto path = rest.substr(slash);
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()
        && std::isxdigit(static_cast<unsigned char>(path[i + 1]))
        && std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      out += static_cast<char>(
          std::stoi(std::string{path.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else if (path[i] == '?' || path[i] == '#') {
      break;
    } else {
      out += path[i];
    }
  }
  if (out.find('\0') != std::string::npos)
    return std::nullopt;
  return out;
}

caf::expected<std::string> resolve_catalog_url(const std::string& source,
                                               const std::string& url) {
  auto fail = [](const std::string& why) {
    return make_error(ec::invalid_argument, why);
  };
  if (url.empty())
    return fail("url is empty");
  auto source_scheme = scheme_of(source);
  if (auto scheme = scheme_of(url); !scheme.empty()) {
    if (is_http(scheme)) {
      if (!split_url(url))
        return fail(fmt::format("url \"{}\" has no host", url));
      return url;
    }
    if (scheme != "file")
      return fail(fmt::format("url \"{}\": scheme \"{}\" is not supported "
                              "(http, https or file)",
                              url, scheme));
    if (is_http(source_scheme))
      return fail(fmt::format("url \"{}\" names a local file, which a "
                              "catalog fetched over {} may not",
                              url, source_scheme));
    if (!file_url_path(url))
      return fail(fmt::format("url \"{}\" is not a local file URL "
                              "(file:///absolute/path)",
                              url));
    return url;
  }
  if (is_http(source_scheme)) {
    auto base = split_url(source);
    if (!base)
      return fail(fmt::format("the catalog URL {} has no host", source));
    if (url.rfind("//", 0) == 0)
      return resolve_catalog_url(source, base->scheme + ":" + url);
    if (url.front() == '/')
      return base->origin + normalize_path(url);
    auto dir = base->target.substr(0, base->target.find('?'));
    dir.resize(dir.rfind('/') + 1);
    return base->origin + normalize_path(dir + url);
  }
  fs::path catalog_path;
  if (source_scheme == "file") {
    auto p = file_url_path(source);
    if (!p)
      return fail(
          fmt::format("the catalog URL {} is not a local file URL", source));
    catalog_path = *p;
  } else if (!source_scheme.empty()) {
    return fail(fmt::format("the catalog location {} has an unsupported "
                            "scheme",
                            source));
  } else {
    catalog_path = fs::absolute(source);
  }
  if (url.front() == '/')
    return fs::path{url}.lexically_normal().string();
  return (catalog_path.parent_path() / url).lexically_normal().string();
}

caf::expected<std::string>
read_catalog_source(const std::string& source,
                    const catalog_load_options& opts) {
  auto scheme = scheme_of(source);
  if (is_http(scheme)) {
    http_options o;
    o.connect_timeout = opts.connect_timeout;
    o.read_timeout = opts.read_timeout;
    o.cancel = opts.cancel;
    auto r = http_get(source, {}, max_catalog_bytes, o);
    auto status = r.answer.status;
    switch (r.outcome) {
    case http_outcome::cancelled:
      return make_error(
          ec::cancelled,
          fmt::format("loading catalog {} was cancelled", source));
    case http_outcome::too_big:
      return make_error(ec::invalid_argument,
                        fmt::format("catalog {} is larger than {} bytes; is "
                                    "the URL right?",
                                    source, max_catalog_bytes));
    case http_outcome::unreachable:
    case http_outcome::cut_off:
      return make_error(ec::unavailable,
                        fmt::format("cannot fetch catalog {} ({}); check the "
                                    "URL in [catalog] sources and the network",
                                    source, r.error));
    case http_outcome::bad_redirect:
      return make_error(ec::protocol, fmt::format("fetching catalog {}: {}",
                                                  source, r.error));
    case http_outcome::done:
      break;
    }
    if (status == 404 || status == 410)
      return make_error(
          ec::not_found,
          fmt::format("catalog {} does not exist (HTTP {}); check "
                      "the URL in [catalog] sources",
                      source, status));
    if (status != 200)
      return make_error(ec::unavailable,
                        fmt::format("catalog {} answered HTTP {} ({}); try "
                                    "again later",
                                    source, status,
                                    summarize_http_body(r.answer.body)));
    return std::move(r.answer.body);
  }
  std::string path = source;
  if (scheme == "file") {
    auto p = file_url_path(source);
    if (!p)
      return make_error(ec::invalid_argument,
                        fmt::format("catalog {} is not a local file URL "
                                    "(file:///absolute/path)",
                                    source));
    path = *p;
  } else if (!scheme.empty()) {
    return make_error(ec::invalid_argument,
                      fmt::format("catalog {}: scheme \"{}\" is not supported; "
                                  "use a path, file:// or http(s):// URL",
                                  source, scheme));
  }
  std::error_code fec;
  if (fs::is_directory(path, fec))
    return make_error(ec::invalid_argument,
                      fmt::format("catalog {} is a directory; name the JSON "
                                  "file",
                                  source));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    auto err = errno;
    if (err == ENOENT)
      return make_error(ec::not_found,
                        fmt::format("catalog {} does not exist; fix or remove "
                                    "it in [catalog] sources (config.toml)",
                                    source));
    return make_error(ec::unavailable, fmt::format("cannot read catalog {}: {}",
                                                   source, std::strerror(err)));
  }
  std::string text(max_catalog_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_catalog_bytes)
    return make_error(ec::invalid_argument,
                      fmt::format("catalog {} is larger than {} bytes", source,
                                  max_catalog_bytes));
  return text;
}

} // namespace banger
