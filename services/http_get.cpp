#include "services/http_get.hpp"

#include <cctype>
#include <memory>

#include <httplib.h>

namespace banger {

namespace {

constexpr int max_redirects = 5;

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool cancelled(const http_options& opts) {
  return opts.cancel != nullptr && opts.cancel->load();
}

// httplib's names ("Connection", "Read") as words for error messages.
std::string describe(httplib::Error err) {
  switch (err) {
  case httplib::Error::Connection:
    return "connection failed";
  case httplib::Error::ConnectionTimeout:
    return "connection timed out";
  case httplib::Error::Read:
    return "read failed or timed out";
  case httplib::Error::Write:
    return "write failed";
  case httplib::Error::SSLConnection:
    return "TLS handshake failed";
  case httplib::Error::SSLLoadingCerts:
    return "cannot load CA certificates";
  case httplib::Error::SSLServerVerification:
    return "the server's TLS certificate is not trusted";
  case httplib::Error::Canceled:
    return "cancelled";
  default:
    return httplib::to_string(err);
  }
}

} // namespace

std::optional<url_parts> split_url(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos)
    return std::nullopt;
  url_parts out;
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https")
    return std::nullopt;
  auto rest = url.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  auto host = rest.substr(0, end);
  if (host.empty())
    return std::nullopt;
  out.origin = out.scheme + "://" + std::string{host};
  if (end == std::string_view::npos) {
    out.target = "/";
  } else {
    out.target = std::string{rest.substr(end)};
    if (out.target.front() != '/')
      out.target.insert(0, "/");
  }
  // A fragment is never sent.
  if (auto hash = out.target.find('#'); hash != std::string::npos)
    out.target.resize(hash);
  return out;
}

std::string http_answer::header(std::string_view name) const {
  auto want = lower(name);
  for (auto& [k, v] : headers)
    if (lower(k) == want)
      return v;
  return {};
}

http_result http_get_once(const std::string& origin, const std::string& target,
                          const http_headers& headers, const http_sink& sink,
                          std::size_t limit, const http_options& opts) {
  http_result out;
  if (cancelled(opts)) {
    out.outcome = http_outcome::cancelled;
    return out;
  }
  httplib::Client cli{origin};
  cli.set_connection_timeout(opts.connect_timeout);
  cli.set_read_timeout(opts.read_timeout);
  cli.set_follow_location(false);
  cli.set_decompress(false);
  cli.set_keep_alive(false);
  httplib::Headers h;
  for (auto& [k, v] : headers)
    h.emplace(k, v);
  auto& a = out.answer;
  bool too_big = false;
  auto res = cli.Get(
      target, h,
      [&](const httplib::Response& r) {
        a.status = r.status;
        for (auto& [k, v] : r.headers)
          a.headers.emplace_back(k, v);
        return !cancelled(opts);
      },
      [&](const char* data, std::size_t n) {
        if (cancelled(opts))
          return false;
        if (a.status == 200 && sink)
          return sink(data, n);
        if (a.body.size() + n > limit) {
          too_big = true;
          return false;
        }
        a.body.append(data, n);
        return true;
      });
  if (cancelled(opts)) {
    out.outcome = http_outcome::cancelled;
  } else if (too_big) {
    out.outcome = http_outcome::too_big;
  } else if (!res) {
    auto err = res.error();
    out.error = describe(err);
    if (err == httplib::Error::Canceled && a.status == 200 && sink)
      out.outcome = http_outcome::done; // the sink refused and knows why
    else if (a.status != 0)
      out.outcome = http_outcome::cut_off;
    else
      out.outcome = http_outcome::unreachable;
  } else {
    a.status = res->status;
  }
  return out;
}

http_result http_get(const std::string& url, const http_sink& sink,
                     std::size_t limit, const http_options& opts) {
  std::string current = url;
  for (int hops = 0;; ++hops) {
    auto parts = split_url(current);
    if (!parts) {
      http_result bad;
      bad.outcome = http_outcome::bad_redirect;
      bad.error = "'" + current + "' is not an http(s) URL";
      bad.url = current;
      return bad;
    }
    auto r = http_get_once(parts->origin, parts->target, {}, sink, limit, opts);
    r.url = current;
    auto status = r.answer.status;
    if (r.outcome != http_outcome::done || status < 300 || status >= 400
        || status == 304)
      return r;
    if (hops >= max_redirects) {
      r.outcome = http_outcome::bad_redirect;
      r.error = "more than " + std::to_string(max_redirects) + " redirects";
      return r;
    }
    auto loc = r.answer.header("Location");
    if (loc.empty()) {
      r.outcome = http_outcome::bad_redirect;
      r.error = "redirect " + std::to_string(status) + " without a Location";
      return r;
    }
    if (loc.find("://") != std::string::npos) {
      current = loc;
    } else if (loc.rfind("//", 0) == 0) {
      current = parts->scheme + ":" + loc;
    } else if (loc.front() == '/') {
      current = parts->origin + loc;
    } else {
      auto dir = parts->target.substr(0, parts->target.find_first_of('?'));
      dir.resize(dir.rfind('/') + 1);
      current = parts->origin + dir + loc;
    }
  }
}

std::string summarize_http_body(const std::string& body) {
  auto s = body.substr(0, 200);
  if (auto nl = s.find_first_of("\r\n"); nl != std::string::npos)
    s.resize(nl);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  return s;
}

} // namespace banger
