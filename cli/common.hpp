#pragma once
// What every command shares: connecting, turning replies into results or
// errors, progress display and printing.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cli/client.hpp"
#include "messages/wire.hpp"

namespace banger::cli {

/// An error to report as "banger: <message> (op <id>)"; main prints it.
struct command_error : std::runtime_error {
  explicit command_error(error_body e)
      : std::runtime_error(e.message), err(std::move(e)) {}
  error_body err;
};

/// Throws command_error with a message of banger's own.
[[noreturn]] void fail(std::string message);

/// The command a parse selected, and the exit code for banger's own failures
/// while running it (125 for run/exec, 1 otherwise).
struct action {
  std::function<int()> run;
  int failure_code = 1;
};

/// A CLI11 validator refusing empty strings ("--name ''").
std::string not_empty(const std::string& value);
/// A CLI11 validator for whole numbers from 1 up ("--vcpu 0", "--vcpu -1").
std::string positive(const std::string& value);

/// A CLI11 validator for sizes like 4G, 512M or 1048576 (parse_size).
std::string a_size(const std::string& value);

/// Connects to the daemon at the socket of resolve_paths().
daemon_client connect_daemon();

/// The reply's result body; a daemon error is thrown as command_error.
const wire::json& result_of(const reply& r);

/// The result decoded as T; a malformed result is a client_error.
template <class T> T decode_result(const reply& r) {
  const auto& body = result_of(r);
  try {
    return decode<T>(body);
  } catch (const wire::decode_error& e) {
    throw client_error(std::string("bangerd sent a malformed reply: ")
                       + e.what());
  }
}

/// Sends a request whose "progress" events drive a spinner on stderr.
reply call_with_progress(daemon_client& client, const std::string& type,
                         const wire::json& body);

/// "banger: warning: <text>" on stderr.
void print_warning(std::string_view text);

/// Writes to stdout (unbuffered, so that order with stderr is kept).
void print(std::string_view text);

/// Prints a --json reply body.
void print_json(const reply& r);

/// Remembers how many arguments follow the first "--" (CLI11 hands them to
/// positionals without saying where "--" was). Called by main before parsing.
void note_command_line(int argc, char** argv);
/// The number of arguments after the first "--"; -1 if there was none.
int args_after_dashdash();

/// Seconds since the Unix epoch.
std::int64_t now_unix();

} // namespace banger::cli
