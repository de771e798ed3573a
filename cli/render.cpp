#include "cli/render.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace banger::cli {

int exit_code_of(const exec_result& r) {
  if (r.signal > 0)
    return 128 + r.signal;
  // The OS keeps only the low byte of a status anyway; do it explicitly.
  return r.exit_code & 0xff;
}

signal_action action_for_signal(int sig, int sigints_before) {
  if (sig != SIGINT)
    return signal_action::forward;
  if (sigints_before == 0)
    return signal_action::forward;
  if (sigints_before == 1)
    return signal_action::cancel;
  return signal_action::abandon;
}

bool colour_enabled(int fd) {
  if (const char* nc = std::getenv("NO_COLOR"); nc != nullptr && nc[0] != '\0')
    return false;
  if (const char* term = std::getenv("TERM");
      term != nullptr && std::string_view(term) == "dumb")
    return false;
  return ::isatty(fd) == 1;
}

std::string paint(std::string_view text, std::string_view code, bool colour) {
  if (!colour || code.empty())
    return std::string(text);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
}

std::string_view state_style(std::string_view state) {
  if (state == "running")
    return sgr::green;
  if (state == "error" || state == "failed")
    return sgr::red;
  if (state == "stopped" || state == "created")
    return sgr::dim;
  if (state.empty())
    return sgr::none;
  return sgr::yellow; // starting, stopping, ...: transitions
}

// -- tables
// ---------------------------------------------------------------------------

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xc0) != 0x80) // count lead bytes only
      ++n;
  return n;
}

table::table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void table::add_row(std::vector<cell> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::string table::render(bool colour) const {
  // Cells hold names and texts from guests and the daemon: one line each,
  // with no escape sequences of their own.
  std::vector<std::vector<cell>> rows = rows_;
  for (auto& row : rows)
    for (auto& c : row)
      c.text = terminal_safe(c.text);
  std::vector<std::size_t> width(headers_.size(), 0);
  for (std::size_t c = 0; c < headers_.size(); ++c) {
    width[c] = display_width(headers_[c]);
    for (auto& row : rows)
      width[c] = std::max(width[c], display_width(row[c].text));
  }
  std::string out;
  auto emit = [&](const std::vector<cell>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += paint(row[c].text, row[c].style, colour);
      if (c + 1 < row.size())
        line.append(width[c] - display_width(row[c].text) + 2, ' ');
    }
    // An empty last cell would leave the padding of the one before it.
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line;
    out += '\n';
  };
  std::vector<cell> header;
  for (auto& h : headers_)
    header.push_back({terminal_safe(h), sgr::none});
  emit(header);
  for (auto& row : rows)
    emit(row);
  return out;
}

std::string
key_values(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::size_t width = 0;
  for (auto& [k, _] : kv)
    width = std::max(width, display_width(k) + 1);
  std::string out;
  for (auto& [k, v] : kv) {
    out += k;
    out += ':';
    out.append(width - display_width(k) - 1 + 2, ' ');
    out += v.empty() ? "-" : terminal_safe(v);
    out += '\n';
  }
  return out;
}

// -- durations, times, sizes
// -------------------------------------------------------------

std::string format_seconds(std::uint64_t ms) {
  auto tenths = (ms + 50) / 100;
  return fmt::format("{}.{}s", tenths / 10, tenths % 10);
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil); avoids timegm and the TZ environment.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

} // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  int year, mon, day, hour, min, sec;
  if (!digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-'
      || !digits(s, 5, 2, mon) || s[7] != '-' || !digits(s, 8, 2, day)
      || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
      || !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, min)
      || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59
      || sec > 60)
    return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    auto start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
      ++pos;
    if (pos == start)
      return std::nullopt;
  }
  if (pos >= s.size())
    return std::nullopt;
  std::int64_t offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':'
        || !digits(s, pos + 4, 2, om))
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  auto days = days_from_civil(year, static_cast<unsigned>(mon),
                              static_cast<unsigned>(day));
  return days * 86400 + hour * 3600 + min * 60 + sec - offset;
}

std::string format_age(std::int64_t seconds) {
  if (seconds < 1)
    return "just now";
  if (seconds < 60)
    return fmt::format("{}s ago", seconds);
  if (seconds < 3600)
    return fmt::format("{}m ago", seconds / 60);
  if (seconds < 86400)
    return fmt::format("{}h ago", seconds / 3600);
  return fmt::format("{}d ago", seconds / 86400);
}

std::string format_created(std::string_view rfc3339, std::int64_t now) {
  if (rfc3339.empty())
    return "-";
  auto t = parse_rfc3339(rfc3339);
  if (!t)
    return std::string(rfc3339);
  return format_age(now - *t);
}

std::string with_age(const std::string& rfc3339, std::int64_t now) {
  if (rfc3339.empty())
    return "";
  auto age = format_created(rfc3339, now);
  return age == rfc3339 ? rfc3339 : rfc3339 + " (" + age + ")";
}

std::string format_mib(std::uint64_t mib) {
  return format_bytes(mib << 20);
}

std::string format_transfer(std::uint64_t done, std::uint64_t total,
                            double seconds) {
  std::string out = format_bytes(done);
  if (total > 0)
    out += " / " + format_bytes(total);
  if (seconds <= 0 || done == 0)
    return out;
  double rate = static_cast<double>(done) / seconds;
  out += "  " + format_bytes(static_cast<std::uint64_t>(rate)) + "/s";
  if (total > done) {
    auto eta = static_cast<std::uint64_t>(
      static_cast<double>(total - done) / rate + 0.5);
    out += eta >= 3600 ? fmt::format("  ETA {}:{:02}:{:02}", eta / 3600,
                                     eta / 60 % 60, eta % 60)
                       : fmt::format("  ETA {}:{:02}", eta / 60, eta % 60);
  }
  return out;
}

std::string progress_bar(double fraction, std::size_t width, bool unicode) {
  fraction = fraction < 0 ? 0 : (fraction > 1 ? 1 : fraction);
  auto full = static_cast<std::size_t>(fraction * static_cast<double>(width));
  std::string out = "[";
  for (std::size_t i = 0; i < width; ++i)
    out += i < full ? (unicode ? "█" : "#") : (unicode ? "·" : "-");
  return out + "]";
}

// -- errors and JSON
// ----------------------------------------------------------------------

std::string format_error(const error_body& err, bool colour) {
  // The message may quote a guest's console or a peer's words.
  auto out = "banger: " + terminal_safe(err.message, true);
  if (!err.op.empty())
    out += paint(" (op " + terminal_safe(err.op) + ")", sgr::dim, colour);
  out += '\n';
  return out;
}

std::string json_output(std::string_view payload) {
  // The host codec (nlohmann::json) sorts keys; re-read the frame keeping
  // the daemon's order so that the output matches what was sent.
  auto frame = nlohmann::ordered_json::parse(payload);
  auto& body = frame.at("body");
  return body.dump(2, ' ', false,
                   nlohmann::ordered_json::error_handler_t::replace)
         + "\n";
}

std::string shell_quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty())
      out += ' ';
    out += '\'';
    for (char c : a) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

std::string session_state_text(const session_info& s) {
  if (s.state != "exited")
    return s.state;
  if (s.signal != 0) {
    const char* abbrev = ::sigabbrev_np(s.signal);
    return "killed by " + (abbrev ? "SIG" + std::string(abbrev)
                                  : "signal " + std::to_string(s.signal));
  }
  return "exited " + std::to_string(s.exit_code);
}

} // namespace banger::cli
