#include "cli/common.hpp"

#include <chrono>

#include <unistd.h>

#include "cli/progress.hpp"
#include "cli/render.hpp"
#include "services/paths.hpp"

namespace banger::cli {

namespace {
int after_dashdash = -1;
} // namespace

void note_command_line(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      after_dashdash = argc - i - 1;
      return;
    }
  after_dashdash = -1;
}

int args_after_dashdash() { return after_dashdash; }

void fail(std::string message) {
  throw command_error(error_body{"", std::move(message), ""});
}

std::string not_empty(const std::string& value) {
  return value.empty() ? "must not be empty" : "";
}

std::string positive(const std::string& value) {
  bool digits = !value.empty()
                && value.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || value.find_first_not_of('0') == std::string::npos)
    return "must be a whole number from 1 up, not '" + value + "'";
  return "";
}

std::string a_size(const std::string& value) {
  if (parse_size(value))
    return "";
  return "expected a size like 4G or 512M (K, M, G, T are powers of 1024), not '"
         + value + "'";
}

daemon_client connect_daemon() {
  auto p = resolve_paths();
  if (auto why = check_runtime_dir(p); !why.empty())
    throw client_error(why);
  return daemon_client::connect(p.socket());
}

const wire::json& result_of(const reply& r) {
  if (!r.ok())
    throw command_error(r.error());
  return r.body;
}

reply call_with_progress(daemon_client& client, const std::string& type,
                         const wire::json& body) {
  progress_display progress(STDERR_FILENO);
  stream_hooks hooks;
  if (progress.active()) {
    hooks.on_progress = [&](const progress_event& ev) { progress.update(ev); };
    hooks.tick = std::chrono::milliseconds(100);
    hooks.on_tick = [&] { progress.tick(); };
  }
  auto r = client.stream(type, body, hooks);
  progress.stop();
  return r;
}

void print(std::string_view text) {
  wire::write_all(STDOUT_FILENO, text);
}

void print_json(const reply& r) {
  result_of(r);
  print(json_output(r.payload));
}

std::int64_t now_unix() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

void print_warning(std::string_view text) {
  std::string line = "banger: warning: ";
  line.append(terminal_safe(text, true));
  line += '\n';
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace banger::cli
