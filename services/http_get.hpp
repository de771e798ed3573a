#pragma once
// Blocking HTTP(S) GETs over cpp-httplib, shared by the registry client and
// the catalog/bundle fetchers: timeouts, a cancel flag checked per chunk,
// bodies streamed to a sink or kept (bounded) in memory. The outcome is
// reported as data; callers word the error for what they were fetching.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace banger {

using http_headers = std::vector<std::pair<std::string, std::string>>;

/// "https://host:port/path?q" -> {"https", "https://host:port", "/path?q"}.
/// Only http and https; nullopt for anything else or an empty host.
struct url_parts {
  std::string scheme;
  std::string origin;
  std::string target;
};
std::optional<url_parts> split_url(std::string_view url);

struct http_answer {
  int status = 0;
  http_headers headers;
  /// The body when it was not streamed to a sink (non-200, or no sink).
  std::string body;
  /// A header's value (name case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
};

enum class http_outcome {
  /// An answer arrived (any status). A 200 body refused by the sink ends
  /// here too: the sink knows why it refused.
  done,
  cancelled,
  /// A body kept in memory was larger than the limit.
  too_big,
  /// The answer started but the connection broke (truncated body).
  cut_off,
  /// No answer: connection refused, DNS, TLS, timeout.
  unreachable,
  /// A redirect without a usable Location, or too many (http_get only).
  bad_redirect,
};

struct http_result {
  http_outcome outcome = http_outcome::done;
  http_answer answer;
  /// httplib's reason for cut_off/unreachable, or the redirect problem.
  std::string error;
  /// The URL that answered (after redirects; http_get only).
  std::string url;
};

/// Receives a 200 body chunk by chunk; false stops the transfer.
using http_sink = std::function<bool(const char*, std::size_t)>;

struct http_options {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds read_timeout{60};
  /// Checked before and during the transfer.
  std::atomic<bool>* cancel = nullptr;
};

/// One GET of origin+target, no redirects followed. A 200 body goes to
/// `sink` when given; other bodies are kept up to `limit` bytes.
http_result http_get_once(const std::string& origin, const std::string& target,
                          const http_headers& headers, const http_sink& sink,
                          std::size_t limit, const http_options& opts);

/// GET an http(s) URL, following up to 5 redirects to any host (no
/// credentials are ever sent, so that is safe).
http_result http_get(const std::string& url, const http_sink& sink,
                     std::size_t limit, const http_options& opts);

/// A few words for an error body (first line, at most 200 characters).
std::string summarize_http_body(const std::string& body);

} // namespace banger
