#include "services/registry_client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "services/data_limits.hpp"
#include "services/error.hpp"
#include "services/http_get.hpp"
#include "services/registry_json.hpp"
#include "services/sha256.hpp"

namespace banger {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Answers read into memory (manifests, indexes, token JSON) and the config
// blob (parsed whole) are bounded: a registry may send an endless body.
constexpr std::size_t max_manifest_bytes = 4 << 20;
constexpr std::size_t max_token_bytes = 4 << 20;
constexpr std::int64_t max_config_bytes = 16 << 20;
constexpr int max_redirects = 5;

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string{s};
}

// Registry digests are "sha256:<hex>".
std::string sha256_of(std::string_view data) {
  return "sha256:" + sha256_hex(data);
}

std::optional<std::string> base64_decode(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0)
    return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(in.data()),
                           static_cast<int>(in.size()));
  if (n < 0)
    return std::nullopt;
  std::size_t pad = 0;
  if (in.back() == '=')
    ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=')
    ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string base64_encode(const std::string& in) {
  std::string out((in.size() + 2) / 3 * 4 + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(in.data()),
                           static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool is_loopback_registry(const std::string& registry) {
  auto host = registry;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// The registry's error body ({"errors":[{"code","message"}]}) in a few words.
std::string summarize_body(const std::string& body) {
  try {
    auto j = json::parse(body);
    std::string out;
    for (auto& e : j.at("errors")) {
      if (!out.empty())
        out += "; ";
      out += e.value("code", "") + ": " + e.value("message", "");
    }
    if (!out.empty())
      return out;
  } catch (const std::exception&) {
  }
  auto s = body.substr(0, 200);
  for (auto& c : s)
    if (c == '\n' || c == '\r')
      c = ' ';
  return trim(s);
}

// One pull's connection state: the registry origin, credentials and the
// bearer token once obtained.
struct session {
  const oci_ref& ref;
  const pull_options& opts;
  std::string origin;
  std::optional<registry_credentials> creds;
  std::string authorization;
  std::vector<std::string> written;
  std::uint64_t overall_done = 0;
  std::uint64_t overall_total = 0;

  bool cancelled() const { return opts.cancel && opts.cancel->load(); }

  caf::error fail(ec code, const std::string& why) const {
    return make_error(code, fmt::format("pulling {}: {}", ref.str(), why));
  }
};

using answer = http_answer;

// GET origin+target once; a 200 body goes to `sink` (when given), any other
// body is kept (bounded) for the error message.
caf::expected<answer> get_once(session& s, const std::string& origin,
                               const std::string& target,
                               const http_headers& headers,
                               const http_sink& sink, std::size_t limit) {
  http_options o;
  o.connect_timeout = s.opts.connect_timeout;
  o.read_timeout = s.opts.read_timeout;
  o.cancel = s.opts.cancel;
  auto r = http_get_once(origin, target, headers, sink, limit, o);
  switch (r.outcome) {
    case http_outcome::done:
    case http_outcome::bad_redirect: // not produced by http_get_once
      break;
    case http_outcome::cancelled:
      return s.fail(ec::cancelled, "the pull was cancelled");
    case http_outcome::too_big:
      return s.fail(ec::protocol,
                    fmt::format("the answer to GET {}{} is larger than {} bytes",
                                origin, target, limit));
    case http_outcome::cut_off:
      return s.fail(ec::bad_state,
                    fmt::format("the answer to GET {}{} was cut off ({})",
                                origin, target, r.error));
    case http_outcome::unreachable:
      return s.fail(ec::unavailable,
                    fmt::format("cannot reach {} ({}); is the registry "
                                "running and the address right?",
                                origin, r.error));
  }
  return std::move(r.answer);
}

std::string header(const answer& a, const char* name) {
  return a.header(name);
}

// "scheme://host[:port]" with the host lowercased and the default port
// written out, so that two spellings of one origin compare equal.
std::string canonical_origin(const std::string& origin) {
  auto sep = origin.find("://");
  if (sep == std::string::npos)
    return lower(origin);
  auto scheme = lower(origin.substr(0, sep));
  auto host = lower(origin.substr(sep + 3));
  auto close = host.rfind(']');
  auto colon = host.rfind(':');
  bool has_port = colon != std::string::npos
                  && (close == std::string::npos || colon > close);
  if (!has_port)
    host += scheme == "https" ? ":443" : ":80";
  return scheme + "://" + host;
}

// Whether the docker config's credentials for the registry may go to a
// token realm: only to the registry's own origin (scheme, host and port), so
// that a registry cannot hand our password to another host, or make us send
// it in clear text. Docker Hub's token service is the one known exception.
bool credentials_may_go_to(const session& s, const std::string& realm_origin) {
  auto realm = canonical_origin(realm_origin);
  auto registry = canonical_origin(s.origin);
  if (realm == registry)
    return true;
  return registry == "https://registry-1.docker.io:443"
         && realm == "https://auth.docker.io:443";
}

// "a b&c" -> "a%20b%26c" for a query parameter.
std::string query_escape(const std::string& in) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Answers a 401 challenge: fetches a bearer token or switches to Basic auth.
caf::error authenticate(session& s, const answer& a) {
  auto challenge = header(a, "WWW-Authenticate");
  if (lower(challenge).rfind("basic", 0) == 0) {
    if (!s.creds)
      return s.fail(ec::protocol,
                    "the registry asks for a login (Basic auth) and no "
                    "credentials for it are in the docker config file");
    s.authorization =
        "Basic " + base64_encode(s.creds->username + ":" + s.creds->password);
    return {};
  }
  auto bc = parse_bearer_challenge(challenge);
  if (!bc)
    return s.fail(ec::protocol,
                  fmt::format("the registry answered 401 with an unusable "
                              "challenge '{}'",
                              challenge));
  auto url = split_url(bc->realm);
  if (!url)
    return s.fail(
        ec::protocol,
        fmt::format("token realm '{}' is not an http(s) URL", bc->realm));
  auto target = url->target;
  target += target.find('?') == std::string::npos ? "?" : "&";
  if (!bc->service.empty())
    target += "service=" + query_escape(bc->service) + "&";
  target += "scope="
            + query_escape(bc->scope.empty()
                               ? "repository:" + s.ref.repository + ":pull"
                               : bc->scope);
  http_headers headers;
  bool withheld = false;
  if (s.creds) {
    if (credentials_may_go_to(s, url->origin))
      headers.emplace_back("Authorization",
                           "Basic "
                               + base64_encode(s.creds->username + ":"
                                               + s.creds->password));
    else
      withheld = true;
  }
  http_options o;
  o.connect_timeout = s.opts.connect_timeout;
  o.read_timeout = s.opts.read_timeout;
  o.cancel = s.opts.cancel;
  auto r = http_get_once(url->origin, target, headers, {}, max_token_bytes, o);
  switch (r.outcome) {
    case http_outcome::done:
    case http_outcome::bad_redirect:
      break;
    case http_outcome::cancelled:
      return s.fail(ec::cancelled, "the pull was cancelled");
    case http_outcome::too_big:
      return s.fail(ec::protocol,
                    fmt::format("the token server {} sent an answer larger "
                                "than {} bytes; banger refuses it",
                                bc->realm, max_token_bytes));
    case http_outcome::cut_off:
    case http_outcome::unreachable:
      return s.fail(ec::unavailable,
                    fmt::format("cannot reach the token server {} ({})",
                                bc->realm, r.error));
  }
  auto* res = &r.answer;
  if (res->status != 200)
    return s.fail(
        ec::protocol,
        fmt::format("the token server {} answered {}: {}{}", bc->realm,
                    res->status, summarize_body(res->body),
                    withheld ? fmt::format("; banger did not send it the "
                                           "credentials for {}, because it is "
                                           "not that registry (another host, "
                                           "port or scheme)",
                                           s.ref.registry)
                             : ""));
  auto token = parse_token_reply(res->body);
  if (!token)
    return s.fail(ec::protocol, fmt::format("token server {}: {}", bc->realm,
                                            error_message(token.error())));
  s.authorization = "Bearer " + *token;
  return {};
}

// GET a registry path with auth (one challenge answered) and redirects
// (followed to other hosts without our Authorization header).
caf::expected<answer> get(session& s, const std::string& target,
                          http_headers headers, const http_sink& sink,
                          std::size_t limit) {
  bool authed = false;
  std::string origin = s.origin;
  std::string where = target;
  for (int hops = 0;;) {
    auto h = headers;
    if (origin == s.origin && !s.authorization.empty())
      h.emplace_back("Authorization", s.authorization);
    auto a = get_once(s, origin, where, h, sink, limit);
    if (!a)
      return a;
    if (a->status == 401 && origin == s.origin && !authed) {
      authed = true;
      if (auto err = authenticate(s, *a))
        return err;
      continue;
    }
    if (a->status >= 300 && a->status < 400 && a->status != 304) {
      if (++hops > max_redirects)
        return s.fail(ec::protocol, fmt::format("more than {} redirects for {}",
                                                max_redirects, target));
      auto loc = header(*a, "Location");
      if (loc.empty())
        return s.fail(ec::protocol,
                      fmt::format("redirect {} without Location", a->status));
      if (loc.front() == '/') {
        where = loc;
      } else if (auto u = split_url(loc)) {
        origin = u->origin;
        where = u->target;
      } else {
        return s.fail(ec::protocol,
                      fmt::format("redirect to unusable Location '{}'", loc));
      }
      continue;
    }
    return a;
  }
}

caf::error status_error(session& s, const answer& a, const std::string& what) {
  auto detail = summarize_body(a.body);
  if (!detail.empty())
    detail = " (" + detail + ")";
  if (a.status == 404)
    return s.fail(
        ec::not_found,
        fmt::format("{} does not exist in the registry{}", what, detail));
  if (a.status == 401 || a.status == 403)
    return s.fail(ec::protocol,
                  fmt::format("the registry refused access to {}: HTTP {}{}",
                              what, a.status, detail));
  if (a.status >= 500)
    return s.fail(ec::unavailable,
                  fmt::format("the registry failed on {}: HTTP {}{}; try "
                              "again later",
                              what, a.status, detail));
  return s.fail(ec::protocol, fmt::format("unexpected HTTP {} for {}{}",
                                          a.status, what, detail));
}

struct manifest_answer {
  std::string body;
  std::string media_type;
  std::string digest;
};

caf::expected<manifest_answer> get_manifest(session& s,
                                            const std::string& reference,
                                            const std::string& expect_digest) {
  http_headers h{
      {"Accept", fmt::format("{}, {}, {}, {}", mt_oci_index, mt_oci_manifest,
                             mt_docker_list, mt_docker_manifest)}};
  auto a =
      get(s, fmt::format("/v2/{}/manifests/{}", s.ref.repository, reference), h,
          {}, max_manifest_bytes);
  if (!a)
    return a.error();
  if (a->status != 200)
    return status_error(
        s, *a, fmt::format("manifest '{}' of {}", reference, s.ref.repository));
  manifest_answer m;
  m.body = std::move(a->body);
  m.digest = sha256_of(m.body);
  if (!expect_digest.empty() && m.digest != expect_digest)
    return s.fail(ec::bad_state,
                  fmt::format("the manifest fetched by digest {} has digest {}",
                              expect_digest, m.digest));
  // Fetched by tag: the registry's own sha256 digest, when sent, must agree.
  if (auto claimed = header(*a, "Docker-Content-Digest");
      is_sha256_digest(claimed) && claimed != m.digest)
    return s.fail(ec::bad_state,
                  fmt::format("manifest '{}' has digest {} but the registry "
                              "says {} (Docker-Content-Digest)",
                              reference, m.digest, claimed));
  auto mt = manifest_media_type(m.body, header(*a, "Content-Type"));
  if (!mt)
    return s.fail(ec::protocol, fmt::format("manifest '{}': {}", reference,
                                            error_message(mt.error())));
  m.media_type = std::move(*mt);
  return m;
}

// A temporary name no other pull (thread or process) uses at the same time.
std::string temp_name(const std::string& digest) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format(".{}.partial-{}-{}", digest.substr(7), ::getpid(),
                     ++counter);
}

void report(session& s, const oci_descriptor& d, int layer, int layer_count,
            std::uint64_t blob_done) {
  if (!s.opts.on_progress)
    return;
  pull_progress p;
  p.digest = d.digest;
  p.layer = layer;
  p.layer_count = layer_count;
  p.blob_done = blob_done;
  p.blob_total = static_cast<std::uint64_t>(d.size);
  p.overall_done = s.overall_done + blob_done;
  p.overall_total = s.overall_total;
  s.opts.on_progress(p);
}

// Streams a blob to <out_dir>/blobs/sha256/<hex> through a temporary name.
caf::expected<std::string> fetch_blob(session& s, const oci_descriptor& d,
                                      int layer, int layer_count,
                                      const std::string& what) {
  auto dir = fs::path{s.opts.out_dir} / "blobs" / "sha256";
  auto final_path = dir / d.digest.substr(7);
  auto total = static_cast<std::uint64_t>(d.size);
  std::error_code fec;
  if (fs::is_regular_file(final_path, fec)
      && fs::file_size(final_path, fec) == total) {
    // Already there (an earlier pull): trust it only after re-hashing.
    std::ifstream in(final_path, std::ios::binary);
    sha256_hasher h;
    std::vector<char> buf(1 << 16);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if ("sha256:" + h.hex() == d.digest) {
      report(s, d, layer, layer_count, total);
      s.overall_done += total;
      return final_path.string();
    }
  }
  auto tmp = dir / temp_name(d.digest);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return s.fail(ec::internal,
                  fmt::format("cannot create {}: {}", tmp.string(),
                              std::strerror(errno)));
  hashed_writer out(fd, total);
  auto sink = [&](const char* data, std::size_t n) {
    if (!out.write(data, n))
      return false;
    report(s, d, layer, layer_count, out.done);
    return true;
  };
  auto a = get(s, fmt::format("/v2/{}/blobs/{}", s.ref.repository, d.digest),
               {}, sink, 1 << 16);
  int close_rc = ::close(fd);
  if (close_rc != 0 && out.write_errno == 0)
    out.write_errno = errno;
  auto discard = [&](caf::error err) {
    std::error_code ec2;
    fs::remove(tmp, ec2);
    return err;
  };
  if (!a)
    return discard(a.error());
  if (a->status != 200)
    return discard(status_error(s, *a, fmt::format("{} {}", what, d.digest)));
  if (out.write_errno != 0)
    return discard(s.fail(
        ec::internal, fmt::format("writing {} to {} failed: {}", what,
                                  tmp.string(), std::strerror(out.write_errno))));
  if (out.too_long)
    return discard(s.fail(ec::bad_state,
                          fmt::format("{} {} is longer than the {} bytes its "
                                      "descriptor says",
                                      what, d.digest, total)));
  if (out.done != total)
    return discard(
        s.fail(ec::bad_state, fmt::format("{} {} ended after {} of {} bytes",
                                          what, d.digest, out.done, total)));
  auto got = "sha256:" + out.hash.hex();
  if (got != d.digest)
    return discard(
        s.fail(ec::bad_state, fmt::format("{} has digest {}, expected {}: the "
                                          "registry's copy is corrupt",
                                          what, got, d.digest)));
  std::error_code rec;
  fs::rename(tmp, final_path, rec);
  if (rec)
    return discard(s.fail(
        ec::internal, fmt::format("cannot rename {} to {}: {}", tmp.string(),
                                  final_path.string(), rec.message())));
  s.written.push_back(final_path.string());
  s.overall_done += total;
  return final_path.string();
}

caf::expected<std::string> store_manifest(session& s,
                                          const manifest_answer& m) {
  auto dir = fs::path{s.opts.out_dir} / "blobs" / "sha256";
  auto final_path = dir / m.digest.substr(7);
  auto tmp = dir / temp_name(m.digest);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(m.body.data(), static_cast<std::streamsize>(m.body.size()));
    out.flush();
    if (!out) {
      std::error_code ec2;
      fs::remove(tmp, ec2);
      return s.fail(ec::internal, fmt::format("cannot write the manifest to {}",
                                              tmp.string()));
    }
  }
  std::error_code rec;
  bool existed = fs::exists(final_path, rec);
  fs::rename(tmp, final_path, rec);
  if (rec) {
    fs::remove(tmp, rec);
    return s.fail(ec::internal, fmt::format("cannot write the manifest to {}",
                                            final_path.string()));
  }
  if (!existed)
    s.written.push_back(final_path.string());
  return final_path.string();
}

caf::expected<layer_compression> compression_of(session& s,
                                                const std::string& media_type) {
  auto c = layer_compression_of(media_type);
  if (!c)
    return s.fail(error_code(c.error()), error_message(c.error()));
  return c;
}

caf::expected<pulled_image> pull(session& s) {
  auto m = get_manifest(s, s.ref.reference(), s.ref.digest);
  if (!m)
    return m.error();
  if (m->media_type == mt_oci_index || m->media_type == mt_docker_list) {
    auto entries = parse_index(m->body);
    if (!entries)
      return s.fail(error_code(entries.error()), error_message(entries.error()));
    auto chosen = select_platform(*entries, s.opts.platform, s.ref);
    if (!chosen)
      return chosen.error();
    m = get_manifest(s, chosen->digest, chosen->digest);
    if (!m)
      return m.error();
    if (m->body.size() != static_cast<std::size_t>(chosen->size))
      return s.fail(ec::bad_state,
                    fmt::format("manifest {} has {} bytes, the index says {}",
                                chosen->digest, m->body.size(), chosen->size));
  }
  if (m->media_type != mt_oci_manifest && m->media_type != mt_docker_manifest)
    return s.fail(
        ec::invalid_argument,
        fmt::format(
            "manifest type '{}' is not supported (OCI image manifest or Docker "
            "manifest v2 schema 2)",
            m->media_type));
  auto manifest = parse_image_manifest(m->body);
  if (!manifest)
    return s.fail(error_code(manifest.error()), error_message(manifest.error()));
  const auto& config = manifest->config;
  const auto& layers = manifest->layers;
  if (config.size > max_config_bytes)
    return s.fail(ec::protocol,
                  fmt::format("the image config {} is {} bytes, more than "
                              "the {} banger reads; the manifest is broken "
                              "or hostile",
                              config.digest, config.size, max_config_bytes));
  pulled_image img;
  img.ref = s.ref;
  img.manifest_digest = m->digest;
  std::vector<layer_compression> kinds;
  for (auto& l : layers) {
    auto k = compression_of(s, l.media_type);
    if (!k)
      return k.error();
    kinds.push_back(*k);
  }
  s.overall_total = static_cast<std::uint64_t>(config.size);
  for (auto& l : layers)
    s.overall_total += static_cast<std::uint64_t>(l.size);
  auto dir = fs::path{s.opts.out_dir} / "blobs" / "sha256";
  std::error_code dec;
  fs::create_directories(dir, dec);
  if (dec)
    return s.fail(ec::internal, fmt::format("cannot create {}: {}",
                                            dir.string(), dec.message()));
  // The descriptors say what is coming: refuse what cannot fit before
  // writing any of it.
  if (auto avail = free_bytes(dir.string());
      avail && s.overall_total + data_limits{}.free_margin > *avail)
    return s.fail(ec::unavailable,
                  fmt::format("not enough free space: the image's blobs are "
                              "{} bytes and the filesystem of {} has {} free "
                              "(banger keeps {} free); free some space there "
                              "(banger image rm, banger vm prune) and retry",
                              s.overall_total, s.opts.out_dir, *avail,
                              data_limits{}.free_margin));
  auto mp = store_manifest(s, *m);
  if (!mp)
    return mp.error();
  img.manifest_path = *mp;
  auto cp =
      fetch_blob(s, config, -1, static_cast<int>(layers.size()), "config");
  if (!cp)
    return cp.error();
  img.config_path = *cp;
  std::ifstream in(img.config_path, std::ios::binary);
  std::string config_text{std::istreambuf_iterator<char>(in), {}};
  auto platform = parse_image_config(config_text);
  if (!platform)
    return s.fail(ec::protocol, fmt::format("the image config {}: {}", config.digest,
                                            error_message(platform.error())));
  img.os = platform->os;
  img.architecture = platform->architecture;
  // A single-platform tag: refuse a foreign image before fetching its layers.
  if (img.os != s.opts.platform.os
      || img.architecture != s.opts.platform.architecture)
    return s.fail(ec::not_found,
                  fmt::format("the image is for {}/{}, not {}", img.os,
                              img.architecture, s.opts.platform.str()));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto lp = fetch_blob(s, layers[i], static_cast<int>(i),
                         static_cast<int>(layers.size()),
                         fmt::format("layer {}", i + 1));
    if (!lp)
      return lp.error();
    img.layers.push_back({*lp, layers[i].digest, layers[i].media_type, kinds[i],
                          static_cast<std::uint64_t>(layers[i].size)});
  }
  return img;
}

} // namespace

std::string oci_platform::str() const {
  auto out = os + "/" + architecture;
  if (!variant.empty())
    out += "/" + variant;
  return out;
}

oci_platform host_platform() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", "v8"};
#else
  return {"linux", "unknown", ""};
#endif
}

caf::expected<oci_descriptor>
select_platform(const std::vector<oci_descriptor>& entries,
                const oci_platform& want, const oci_ref& ref) {
  const oci_descriptor* best = nullptr;
  for (auto& e : entries) {
    if (e.platform.os != want.os
        || e.platform.architecture != want.architecture)
      continue;
    if (!want.variant.empty()) {
      // arm64's variant is v8 when written at all.
      bool same = e.platform.variant == want.variant
                  || (e.platform.variant.empty() && want.architecture == "arm64"
                      && want.variant == "v8");
      if (!same)
        continue;
      return e;
    }
    if (e.platform.variant.empty())
      return e;
    if (!best)
      best = &e;
  }
  if (best)
    return *best;
  std::string have;
  for (auto& e : entries) {
    if (e.platform.os.empty() || e.platform.os == "unknown")
      continue;
    if (!have.empty())
      have += ", ";
    have += e.platform.str();
  }
  return make_error(
      ec::not_found,
      fmt::format("pulling {}: no image for {} (the index has: {})", ref.str(),
                  want.str(), have.empty() ? "no platforms" : have));
}

caf::expected<bearer_challenge>
parse_bearer_challenge(std::string_view header) {
  auto fail = [&](const char* why) {
    return make_error(
        ec::protocol,
        fmt::format(
            "WWW-Authenticate '{}' is not a usable Bearer challenge: {}",
            header, why));
  };
  auto s = trim(header);
  if (lower(s.substr(0, 6)) != "bearer" || (s.size() > 6 && s[6] != ' '))
    return fail("it is not Bearer");
  bearer_challenge out;
  std::size_t i = 6;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ','))
      ++i;
    if (i >= s.size())
      break;
    auto eq = s.find('=', i);
    if (eq == std::string::npos)
      return fail("a parameter has no '='");
    auto key = lower(trim(std::string_view{s}.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size())
          ++i;
        value += s[i++];
      }
      if (i >= s.size())
        return fail("a quoted value is not closed");
      ++i;
    } else {
      auto end = s.find(',', i);
      value = trim(std::string_view{s}.substr(
          i, end == std::string::npos ? std::string::npos : end - i));
      i = end == std::string::npos ? s.size() : end;
    }
    if (key == "realm")
      out.realm = value;
    else if (key == "service")
      out.service = value;
    else if (key == "scope")
      out.scope = value;
  }
  if (out.realm.empty())
    return fail("it has no realm");
  return out;
}

caf::expected<std::optional<registry_credentials>>
docker_config_credentials(std::string_view config_json,
                          const std::string& registry) {
  json j;
  try {
    j = json::parse(config_json);
  } catch (const std::exception& e) {
    return make_error(
        ec::invalid_argument,
        fmt::format("the docker config file is not valid JSON ({})", e.what()));
  }
  if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object())
    return std::optional<registry_credentials>{};
  auto hub = registry == "registry-1.docker.io" || registry == "docker.io"
             || registry == "index.docker.io";
  for (auto& [key, entry] : j["auths"].items()) {
    // "https://host:port/v1/" -> "host:port"
    auto host = key;
    if (auto sep = host.find("://"); sep != std::string::npos)
      host = host.substr(sep + 3);
    if (auto slash = host.find('/'); slash != std::string::npos)
      host.resize(slash);
    host = lower(host);
    bool match = host == lower(registry)
                 || (hub
                     && (host == "index.docker.io" || host == "docker.io"
                         || host == "registry-1.docker.io"));
    if (!match || !entry.is_object())
      continue;
    auto auth = entry.value("auth", std::string{});
    if (auth.empty()) {
      auto user = entry.value("username", std::string{});
      if (user.empty())
        continue;
      return std::optional<registry_credentials>{
          registry_credentials{user, entry.value("password", std::string{})}};
    }
    auto decoded = base64_decode(auth);
    if (!decoded)
      return make_error(
          ec::invalid_argument,
          fmt::format("the docker config's auth for {} is not base64", key));
    auto colon = decoded->find(':');
    if (colon == std::string::npos)
      return make_error(
          ec::invalid_argument,
          fmt::format("the docker config's auth for {} is not user:password",
                      key));
    return std::optional<registry_credentials>{registry_credentials{
        decoded->substr(0, colon), decoded->substr(colon + 1)}};
  }
  return std::optional<registry_credentials>{};
}

std::string default_docker_config_path() {
  if (auto* d = std::getenv("DOCKER_CONFIG"); d && *d)
    return (fs::path{d} / "config.json").string();
  if (auto* h = std::getenv("HOME"); h && *h)
    return (fs::path{h} / ".docker" / "config.json").string();
  return {};
}

caf::expected<pulled_image> pull_image(const oci_ref& ref,
                                       const pull_options& opts) {
  session s{ref, opts, {}, {}, {}, {}, 0, 0};
  if (opts.out_dir.empty())
    return s.fail(ec::invalid_argument, "no output directory given");
  bool plain = is_loopback_registry(ref.registry)
               || opts.insecure.count(ref.registry) > 0;
  s.origin = (plain ? "http://" : "https://") + ref.registry;
  auto config_path = opts.docker_config.empty() ? default_docker_config_path()
                                                : opts.docker_config;
  if (!config_path.empty()) {
    std::ifstream in(config_path, std::ios::binary);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      auto creds = docker_config_credentials(text.str(), ref.registry);
      if (!creds)
        return make_error(ec::invalid_argument,
                          fmt::format("pulling {}: {}: {}", ref.str(),
                                      config_path,
                                      error_message(creds.error())));
      s.creds = *creds;
    }
  }
  auto blobs = fs::path{opts.out_dir} / "blobs";
  auto result = pull(s);
  if (!result) {
    std::error_code ec2;
    for (auto& f : s.written)
      fs::remove(f, ec2);
    // Only removes directories that are empty, i.e. made by us for nothing.
    fs::remove(blobs / "sha256", ec2);
    fs::remove(blobs, ec2);
  }
  return result;
}

} // namespace banger
