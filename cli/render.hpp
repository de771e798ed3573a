#pragma once
// What the CLI shows: tables, key/value lines, durations, sizes, colour,
// errors, --json output and the exit codes scripts rely on. Pure functions
// (no I/O except isatty/getenv in colour_enabled), unit-tested.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "messages/agent.hpp"
#include "services/terminal_text.hpp"
#include "services/units.hpp"

namespace banger::cli {

// -- exit codes
// -----------------------------------------------------------------

inline constexpr int exit_ok = 0;
/// banger failed (daemon unreachable, daemon error, protocol error).
inline constexpr int exit_failure = 1;
/// The command line was wrong (CLI11 parse or validation error).
inline constexpr int exit_usage = 2;
/// `vm run` / `vm exec`: banger itself failed, the command did not report a
/// status (docker's convention; the command's own codes pass through).
inline constexpr int exit_run_failure = 125;

/// The exit code for a finished guest command: its own code, or 128 + signal
/// when a signal killed it (the shell's convention).
int exit_code_of(const exec_result& r);

/// What to do when the user signals banger while a command streams.
enum class signal_action {
  forward, // send a "signal" frame with that signal to the guest command
  cancel,  // send "cancel": the daemon stops the command for good
  abandon, // stop waiting: banger exits at once
};

/// SIGINT/SIGTERM/SIGHUP are forwarded; a second SIGINT cancels, a third one
/// abandons. `sigints_before` counts the SIGINTs already handled.
signal_action action_for_signal(int sig, int sigints_before);

// -- colour
// -----------------------------------------------------------------------

/// True if `fd` is a terminal, NO_COLOR is unset or empty and TERM is not
/// "dumb".
bool colour_enabled(int fd);

/// One POSIX shell word per argument, joined by spaces: each is wrapped in
/// single quotes ('' for an empty one, ' as '\''), so that a remote shell
/// (ssh joins its arguments for one) sees exactly these arguments.
std::string shell_quote(const std::vector<std::string>& argv);

namespace sgr {
inline constexpr std::string_view none = "";
inline constexpr std::string_view bold = "1";
inline constexpr std::string_view dim = "2";
inline constexpr std::string_view red = "31";
inline constexpr std::string_view green = "32";
inline constexpr std::string_view yellow = "33";
} // namespace sgr

/// `text` wrapped in an SGR escape sequence when `colour` and `code` are set.
std::string paint(std::string_view text, std::string_view code, bool colour);

/// A guest session's state as `session list` shows it: "running",
/// "exited 3", "killed by SIGTERM".
std::string session_state_text(const session_info& s);

/// The colour of a VM state in tables ("running" green, "error" red, ...).
std::string_view state_style(std::string_view state);

// -- tables and key/value lines
// ----------------------------------------------------

struct cell {
  std::string text;
  std::string_view style = sgr::none;
};

/// Columns aligned on the display width of their text (UTF-8 aware), two
/// spaces between columns, no trailing blanks. Colour never shifts columns.
class table {
public:
  explicit table(std::vector<std::string> headers);

  void add_row(std::vector<cell> row);

  std::size_t rows() const { return rows_.size(); }

  std::string render(bool colour) const;

private:
  std::vector<std::string> headers_;
  std::vector<std::vector<cell>> rows_;
};

/// "key:  value" lines with the values aligned; empty values show as "-".
std::string
key_values(const std::vector<std::pair<std::string, std::string>>& kv);

/// The number of terminal columns `text` takes (code points, not bytes).
std::size_t display_width(std::string_view text);

// -- durations, times, sizes
// ---------------------------------------------------------

/// Milliseconds as seconds with one decimal, rounded half up: 3449 -> "3.4s".
std::string format_seconds(std::uint64_t ms);

/// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" into Unix seconds.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

/// A compact age: "just now", "42s ago", "5m ago", "3h ago", "12d ago".
std::string format_age(std::int64_t seconds);

/// An RFC 3339 time as an age relative to `now` (Unix seconds); the text as
/// is if it does not parse, "-" if empty.
std::string format_created(std::string_view rfc3339, std::int64_t now);

/// "2026-11-28T13:45:47Z (5 minutes ago)" for show commands; "" for "".
std::string with_age(const std::string& rfc3339, std::int64_t now);

/// MiB with a binary unit: 512 -> "512MiB", 2048 -> "2GiB", 1536 -> "1.5GiB".
std::string format_mib(std::uint64_t mib);


/// A transfer's state for progress lines: "45.2MiB / 100.0MiB  12.3MiB/s
/// ETA 0:04" (rate and ETA only once `seconds` is positive and bytes moved;
/// no total: just the bytes and rate).
std::string format_transfer(std::uint64_t done, std::uint64_t total,
                            double seconds);

/// "[#####-----]" of `width` cells inside the brackets (Unicode blocks when
/// `unicode`); the fraction is clamped to 0..1.
std::string progress_bar(double fraction, std::size_t width, bool unicode);

// -- errors and JSON
// -----------------------------------------------------------------

/// "banger: <message>" plus " (op <id>)", dimmed, when the daemon sent an op
/// id. Ends with a newline.
std::string format_error(const error_body& err, bool colour);

/// A reply body for --json: pretty-printed with two spaces, keys in the
/// order the daemon sent them. `payload` is the whole frame text.
std::string json_output(std::string_view payload);

} // namespace banger::cli
