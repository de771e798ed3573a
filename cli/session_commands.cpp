// banger vm session start|list|attach|logs|stop: long-running commands in a
// guest that outlive the client (and the daemon). The guest agent owns them;
// see docs/protocol.md (sessions).
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>

#include <termios.h>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/detach_keys.hpp"
#include "cli/render.hpp"
#include "cli/signals.hpp"
#include "messages/vm.hpp"

namespace banger::cli {

namespace {

struct session_opts {
  std::string vm;
  std::string session;
  std::string cwd;
  std::vector<std::string> env;
  std::vector<std::string> command;
  std::string signal;
  bool json = false;
  bool follow = false;
};

// Thrown from the stream's hooks to leave it: the client detaches.
struct detached {};

/// TERM, SIGTERM, term or 15 -> 15; 0 when it is none of those.
int parse_signal(std::string s) {
  if (s.empty())
    return 0;
  if (s.find_first_not_of("0123456789") == std::string::npos)
    return s.size() <= 2 && std::stoi(s) >= 1 && std::stoi(s) <= 64
               ? std::stoi(s)
               : 0;
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s.rfind("SIG", 0) == 0)
    s.erase(0, 3);
  for (int sig = 1; sig < 32; ++sig)
    if (const char* abbrev = ::sigabbrev_np(sig); abbrev && s == abbrev)
      return sig;
  return 0;
}

/// While alive, a terminal on stdin hands over each byte at once (no line
/// editing) and Ctrl-Q is no longer flow control, so that Ctrl-P Ctrl-Q can
/// be seen; echo and Ctrl-C stay as they are.
class keys_mode {
public:
  keys_mode() {
    if (::isatty(STDIN_FILENO) != 1 || ::tcgetattr(STDIN_FILENO, &saved_) != 0)
      return;
    auto t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ICANON);
    t.c_iflag &= ~static_cast<tcflag_t>(IXON);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
  }
  ~keys_mode() {
    if (active_)
      ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  keys_mode(const keys_mode&) = delete;
  keys_mode& operator=(const keys_mode&) = delete;
  bool active() const { return active_; }

private:
  termios saved_{};
  bool active_ = false;
};

/// argv as a shell would read it, quoting only the words that need it, cut
/// to `width` characters for the table (--json has it whole).
std::string command_text(const std::vector<std::string>& argv,
                         std::size_t width = 60) {
  std::string out;
  for (auto& word : argv) {
    if (!out.empty())
      out += ' ';
    bool plain = !word.empty()
                 && word.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_./=:@%+,-")
                        == std::string::npos;
    out += plain ? word : shell_quote({word});
  }
  if (out.size() > width)
    out = out.substr(0, width - 3) + "...";
  return out;
}

int do_start(const session_opts& o) {
  vm_session<session_start_request> req;
  req.name = o.vm;
  req.body.session = o.session;
  req.body.exec.argv = o.command;
  req.body.exec.env = o.env;
  req.body.exec.cwd = o.cwd;
  auto client = connect_daemon();
  auto info =
      decode_result<session_info>(client.call("vm.session.start", to_json(req)));
  print(terminal_safe(info.session) + "\n");
  return exit_ok;
}

int do_list(const session_opts& o) {
  auto client = connect_daemon();
  auto r = client.call("vm.session.list", to_json(vm_ref{o.vm}));
  if (o.json) {
    print_json(r);
    return exit_ok;
  }
  auto list = decode_result<session_list>(r);
  table t({"SESSION", "STATE", "PID", "COMMAND", "STARTED"});
  auto now = now_unix();
  for (auto& s : list.sessions) {
    auto state = session_state_text(s);
    t.add_row({{s.session},
               {state, s.state == "running" ? sgr::green : sgr::none},
               {std::to_string(s.pid)},
               {command_text(s.argv)},
               {format_created(s.started_at, now)}});
  }
  print(t.render(colour_enabled(STDOUT_FILENO)));
  return exit_ok;
}

/// attach (stdin forwarded, exits with the session's code when it ends) and
/// logs (no stdin; -f follows). A detach exits 0 and leaves it running.
int stream_session(const session_opts& o, bool attach) {
  vm_session<session_attach_request> req;
  req.name = o.vm;
  req.body.session = o.session;
  req.body.replay = true;
  req.body.follow = attach || o.follow;
  auto client = connect_daemon();
  signal_pipe signals({SIGINT, SIGTERM, SIGHUP});
  std::optional<keys_mode> keys;
  if (attach)
    keys.emplace();
  detach_keys scanner;

  stream_hooks hooks;
  hooks.on_output = [](const output_chunk& chunk) {
    wire::write_all(chunk.stream == 2 ? STDERR_FILENO : STDOUT_FILENO,
                    chunk.data);
  };
  if (attach) {
    hooks.stdin_fd = STDIN_FILENO;
    hooks.on_stdin = [&](daemon_client& c, std::uint64_t id,
                         std::string_view data, bool eof) {
      // The end of our stdin is not the session's: it keeps its stdin for
      // the next attach.
      if (eof)
        return;
      std::string out = keys && keys->active() ? scanner.feed(data)
                                               : std::string(data);
      if (!out.empty())
        c.send(id, "stdin", to_json(stdin_chunk{out, false}));
      if (scanner.detached())
        throw detached{};
    };
  }
  hooks.wakeup_fd = signals.fd();
  hooks.on_wakeup = [&](daemon_client&, std::uint64_t) {
    if (!signals.drain().empty())
      throw detached{};
  };

  reply r;
  try {
    r = client.stream("vm.session.attach", to_json(req), hooks);
  } catch (const detached&) {
    keys.reset();
    // Closing the connection is the detach: bangerd tells the agent, the
    // session goes on.
    if (attach)
      wire::write_all(STDERR_FILENO,
                      "\nbanger: detached from session " + terminal_safe(o.session)
                          + " (still running; banger vm session attach "
                          + terminal_safe(o.vm) + " " + terminal_safe(o.session) + ")\n");
    return exit_ok;
  }
  keys.reset();
  auto info = decode_result<session_info>(r);
  if (!attach || info.state != "exited")
    return exit_ok;
  return info.exit_code;
}

int do_stop(const session_opts& o) {
  vm_session<session_stop_request> req;
  req.name = o.vm;
  req.body.session = o.session;
  if (!o.signal.empty()) {
    req.body.signal = parse_signal(o.signal);
    if (req.body.signal == 0)
      fail("--signal " + o.signal
           + " is not a signal: give a name like TERM, KILL, INT, HUP, USR1 "
             "or a number from 1 to 64");
  }
  auto client = connect_daemon();
  auto info =
      decode_result<session_info>(client.call("vm.session.stop", to_json(req)));
  if (info.state == "exited")
    print(terminal_safe(info.session) + " " + terminal_safe(session_state_text(info)) + "\n");
  else {
    const char* abbrev = ::sigabbrev_np(req.body.signal);
    print(terminal_safe(info.session) + " signalled ("
          + (abbrev ? "SIG" + std::string(abbrev)
                    : "signal " + std::to_string(req.body.signal))
          + "), still running\n");
  }
  return exit_ok;
}

void add_vm_and_session(CLI::App& cmd, session_opts& o) {
  cmd.add_option("VM", o.vm, "The VM")->required();
  cmd.add_option("SESSION", o.session, "The session (see: session list)")
      ->required();
}

} // namespace

void add_session_commands(CLI::App& vm, action& selected) {
  auto* group = vm.add_subcommand(
      "session",
      "Long-running commands in a VM that you can attach to, detach from "
      "and find again later");
  group->require_subcommand(1);
  group->footer(
      "A session runs in the guest in its own process group, its stdin a "
      "pipe that\n"
      "stays open, its output kept (the last 1 MiB) by the guest agent. It "
      "outlives\n"
      "the client that started it and bangerd restarts; it ends when its "
      "command\n"
      "ends, on 'session stop', or when the VM stops.\n\n"
      "Examples:\n"
      "  banger vm session start box --name build -- make -j4\n"
      "  banger vm session list box\n"
      "  banger vm session attach box build     # Ctrl-P Ctrl-Q detaches\n"
      "  banger vm session logs box build -f\n"
      "  banger vm session stop box build");

  {
    auto o = std::make_shared<session_opts>();
    auto* cmd = group->add_subcommand(
        "start", "Start a command as a session; prints the session's name");
    cmd->add_option("VM", o->vm, "The VM (running)")->required();
    cmd->add_option("--name", o->session,
                    "The session's name (letters, digits, '.', '_', '-'); "
                    "default: s1, s2, ...")
        ->check(not_empty);
    cmd->add_option("--cwd", o->cwd,
                    "Directory in the guest to start in; default: /root/repo "
                    "when a workspace was prepared there, else /root");
    cmd->add_option("--env", o->env,
                    "KEY=VALUE for the command's environment (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("CMD", o->command,
                    "The command and its arguments, after '--'; passed to "
                    "the guest as typed, without a shell")
        ->required();
    cmd->footer("A name a running session has is refused; the name of one "
                "that ended is reused.\n\n"
                "Example:\n"
                "  banger vm session start box --name srv --env PORT=8080 "
                "-- python3 -m http.server");
    cmd->callback([o, &selected] {
      for (auto& e : o->env)
        if (e.find('=') == std::string::npos || e.front() == '=')
          throw CLI::ValidationError("--env " + e
                                     + " is not KEY=VALUE (e.g. --env "
                                       "DEBUG=1)");
      selected = {[o] { return do_start(*o); }};
    });
  }
  {
    auto o = std::make_shared<session_opts>();
    auto* cmd = group->add_subcommand(
        "list", "List a VM's sessions: name, state, pid, command, started");
    cmd->alias("ls");
    cmd->add_option("VM", o->vm, "The VM")->required();
    cmd->add_flag("--json", o->json, "Print the daemon's reply as JSON");
    cmd->callback([o, &selected] { selected = {[o] { return do_list(*o); }}; });
  }
  {
    auto o = std::make_shared<session_opts>();
    auto* cmd = group->add_subcommand(
        "attach", "Replay a session's recent output, then follow it live "
                  "with your stdin forwarded to it");
    add_vm_and_session(*cmd, *o);
    cmd->footer(
        "Detach (the session keeps running): Ctrl-P Ctrl-Q when stdin is a "
        "terminal,\n"
        "or Ctrl-C, SIGTERM, SIGHUP, or closing/killing the client. The end "
        "of stdin\n"
        "is not passed on: the session's stdin stays open for the next "
        "attach. To\n"
        "signal the session use 'banger vm session stop NAME S --signal "
        "SIG'.\n\n"
        "When the session ends while attached, banger exits with its exit "
        "code\n"
        "(128+N if signal N killed it).\n\n"
        "Example:\n"
        "  banger vm session attach box build");
    cmd->callback([o, &selected] {
      selected = {[o] { return stream_session(*o, true); }, exit_run_failure};
    });
  }
  {
    auto o = std::make_shared<session_opts>();
    auto* cmd = group->add_subcommand(
        "logs", "Print a session's buffered output (the last 1 MiB)");
    add_vm_and_session(*cmd, *o);
    cmd->add_flag("-f,--follow", o->follow,
                  "Then follow the live output until the session ends or "
                  "Ctrl-C");
    cmd->callback([o, &selected] {
      selected = {[o] { return stream_session(*o, false); }};
    });
  }
  {
    auto o = std::make_shared<session_opts>();
    auto* cmd = group->add_subcommand(
        "stop", "Stop a session: SIGTERM, then SIGKILL 5 s later");
    add_vm_and_session(*cmd, *o);
    cmd->add_option("-s,--signal", o->signal,
                    "Send only this signal (TERM, KILL, INT, HUP, USR1, ... "
                    "or a number) and return");
    cmd->callback([o, &selected] { selected = {[o] { return do_stop(*o); }}; });
  }
}

} // namespace banger::cli
