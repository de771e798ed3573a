#include "guest/agent/session.hpp"

#include <algorithm>
#include <optional>
#include <cerrno>
#include <csignal>
#include <system_error>
#include <vector>

#include <poll.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent/exec.hpp"
#include "guest/agent/health.hpp"
#include "guest/agent/log.hpp"
#include "guest/agent/ports.hpp"
#include "messages/agent.hpp"

namespace banger::agent {

using wire::json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t chunk_size = 64 * 1024;
// Past this much unsent output, stop reading commands' pipes: the pipes
// then fill up and the commands wait, instead of the agent's memory growing.
constexpr std::size_t max_out_backlog = 4u << 20;
// Past this much unwritten stdin, stop reading the port (the host waits).
// A host that keeps to its stdin credit (credit_window per stream) never
// gets here with a few streams; this guards against one that does not. It
// must stay well above the window: while the port is not read, no "credit"
// reaches the output side either.
constexpr std::size_t max_stdin_backlog = 8u << 20;
// While the host is away the port polls as readable (EOF) all the time.
constexpr int idle_poll_ms = 15;
// A command's background processes may hold its pipes open forever; its
// result is sent this long after it exited even if the pipes are still open.
constexpr auto drain_grace = 1000ms;
// `session stop` without a signal: SIGTERM, then SIGKILL this much later.
constexpr auto stop_grace = 5000ms;
// A host may grant credit ahead; more than this is as good as unlimited.
constexpr std::int64_t credit_limit = std::int64_t{1} << 50;

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

/// The id of a frame that failed to decode, if its JSON shows one.
std::uint64_t salvage_id(const std::string& payload) {
  auto j = json::parse(payload, nullptr, false);
  if (j.is_object()) {
    auto it = j.find("id");
    if (it != j.end() && it->is_number_unsigned())
      return it->get<std::uint64_t>();
  }
  return 0;
}

void expect_empty(const json& body, const char* what) {
  wire::object_reader r(body, what);
  r.finish();
}

} // namespace

void session::run() {
  // fds[0] is the port, fds[1] the signalfd, then one entry per pipe.
  struct pipe_ref {
    std::uint64_t id;
    int stream;          // 0 stdin, 1 stdout, 2 stderr
    std::string session; // non-empty: a guest session's pipe, not an exec's
  };
  std::vector<pollfd> fds;
  std::vector<pipe_ref> refs;
  for (;;) {
    fds.clear();
    refs.clear();
    short port_events = 0;
    if (!port_idle_ && stdin_backlog() < max_stdin_backlog)
      port_events |= POLLIN;
    if (outbox_.pending())
      port_events |= POLLOUT;
    // Even with no events asked for, poll reports the host hanging up.
    fds.push_back({port_idle_ ? -1 : port_, port_events, 0});
    fds.push_back({sigfd_, POLLIN, 0});
    bool backlog = outbox_.backlog() > max_out_backlog;
    for (auto& [id, r] : execs_) {
      // Without credit the pipes fill up and the command's writes block.
      bool hold = backlog || r.credit <= 0;
      if (!hold && r.out_fd >= 0) {
        fds.push_back({r.out_fd, POLLIN, 0});
        refs.push_back({id, 1, {}});
      }
      if (!hold && r.err_fd >= 0) {
        fds.push_back({r.err_fd, POLLIN, 0});
        refs.push_back({id, 2, {}});
      }
      if (r.in_fd >= 0 && !r.stdin_buf.empty()) {
        fds.push_back({r.in_fd, POLLOUT, 0});
        refs.push_back({id, 0, {}});
      }
    }
    for (auto& [name, g] : sessions_.all()) {
      // Output with nobody attached goes to the ring only: always read it.
      bool hold = (backlog && !g.followers.empty()) || session_held(g);
      if (!hold && g.out_fd >= 0) {
        fds.push_back({g.out_fd, POLLIN, 0});
        refs.push_back({0, 1, name});
      }
      if (!hold && g.err_fd >= 0) {
        fds.push_back({g.err_fd, POLLIN, 0});
        refs.push_back({0, 2, name});
      }
      if (g.in_fd >= 0 && !g.stdin_buf.empty()) {
        fds.push_back({g.in_fd, POLLOUT, 0});
        refs.push_back({0, 0, name});
      }
    }

    int n = ::poll(fds.data(), fds.size(), poll_timeout());
    if (n < 0) {
      if (errno != EINTR) {
        log_errno("poll", errno);
        ::usleep(idle_poll_ms * 1000);
      }
      continue;
    }
    port_idle_ = false;

    if (fds[1].revents != 0)
      reap();
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (fds[i + 2].revents == 0)
        continue;
      if (!refs[i].session.empty()) {
        auto* g = sessions_.find(refs[i].session);
        if (g == nullptr)
          continue;
        if (refs[i].stream == 0)
          write_session_stdin(*g);
        else
          pump_session(*g, refs[i].stream);
        continue;
      }
      auto it = execs_.find(refs[i].id);
      if (it == execs_.end())
        continue;
      if (refs[i].stream == 0)
        write_stdin(it->first, it->second);
      else
        pump(it->first, it->second, refs[i].stream);
    }
    if (fds[0].revents & POLLOUT)
      outbox_.flush();
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
      read_port();
    finish_ready();
    finish_sessions();
  }
}

int session::poll_timeout() const {
  int timeout = port_idle_ ? idle_poll_ms : -1;
  auto now = clock_type::now();
  for (auto& [id, r] : execs_) {
    // Held for credit: the port's next frame (a "credit") wakes the loop.
    if (!r.exited || r.credit <= 0)
      continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  r.exited_at + drain_grace - now)
                  .count();
    int ms = static_cast<int>(std::max<long long>(left, 0) + 1);
    timeout = timeout < 0 ? ms : std::min(timeout, ms);
  }
  for (auto& [name, g] : sessions_.all()) {
    std::optional<clock_type::time_point> due;
    if (g.exited && !g.ended) {
      if (session_held(g))
        continue;
      due = g.exited_at + drain_grace;
    } else if (g.kill_at)
      due = *g.kill_at;
    if (!due)
      continue;
    auto left
      = std::chrono::duration_cast<std::chrono::milliseconds>(*due - now)
          .count();
    int ms = static_cast<int>(std::max<long long>(left, 0) + 1);
    timeout = timeout < 0 ? ms : std::min(timeout, ms);
  }
  return timeout;
}

std::size_t session::stdin_backlog() const {
  std::size_t total = 0;
  for (auto& [id, r] : execs_)
    total += r.stdin_buf.size();
  for (auto& [name, g] : sessions_.all())
    total += g.stdin_buf.size();
  return total;
}

// -- the host side -------------------------------------------------------------

void session::read_port() {
  char buf[65536];
  // Bounded, so that a chatty host cannot starve the commands' pipes.
  for (int round = 0; round < 16; ++round) {
    auto n = ::read(port_, buf, sizeof(buf));
    if (n == 0) {
      // No host on the other end (never was, or it went away).
      host_gone();
      port_idle_ = true;
      return;
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        port_idle_ = true; // unexpected: back off instead of spinning
      return;
    }
    inbox_.feed(buf, static_cast<std::size_t>(n));
    while (auto item = inbox_.next()) {
      if (item->error)
        send_error(0, "protocol", *item->error);
      else
        handle_payload(item->payload);
    }
    if (static_cast<std::size_t>(n) < sizeof(buf))
      return;
  }
}

void session::host_gone() {
  // Nobody is left to read the output or send signals: stop the commands
  // rather than leave them running unseen.
  while (!execs_.empty())
    abort_exec(execs_.begin()->first);
  // Guest sessions go on: the next host finds them by name.
  sessions_.forget_hosts();
  outbox_.clear();
  inbox_.reset();
}

void session::handle_payload(const std::string& payload) {
  wire::envelope env;
  try {
    env = wire::parse_envelope(payload);
  } catch (const wire::decode_error& e) {
    auto id = salvage_id(payload);
    if (id != 0)
      fail_request(id, "protocol", e.what());
    else
      send_error(0, "protocol", e.what());
    return;
  }
  try {
    dispatch(env);
  } catch (const wire::decode_error& e) {
    fail_request(env.id, "protocol", e.what());
  } catch (const std::exception& e) {
    fail_request(env.id, "internal",
                 "'" + env.type + "' failed in the agent: " + e.what());
  }
}

void session::dispatch(const wire::envelope& env) {
  namespace m = agent_msg;
  const auto& type = env.type;
  if (type == m::stdin_)
    return do_stdin(env.id, env.body);
  if (type == m::signal)
    return do_signal(env.id, env.body);
  if (type == m::credit)
    return do_credit(env.id, env.body);
  if (type == m::detach) {
    // Ends an attach (its result follows); a late one finds nothing.
    if (sessions_.followed_by(env.id) != nullptr)
      end_attach(env.id);
    return;
  }
  if (execs_.count(env.id) != 0) {
    fail_request(env.id, "protocol",
                 "request id " + std::to_string(env.id)
                   + " is in use by a running exec; that exec was killed");
    return;
  }
  if (id_in_use(env.id)) {
    fail_request(env.id, "protocol",
                 "request id " + std::to_string(env.id)
                   + " is in use by a session attach or stop; that call was "
                     "ended (the session goes on)");
    return;
  }
  if (type == m::health) {
    expect_empty(env.body, "health");
    send(env.id, m::result, to_json(read_health()));
  } else if (type == m::ports) {
    expect_empty(env.body, "ports");
    send(env.id, m::result, to_json(read_ports()));
  } else if (type == m::exec) {
    do_exec(env.id, env.body);
  } else if (type == m::sync) {
    expect_empty(env.body, "sync");
    ::sync();
    send(env.id, m::result, json::object());
  } else if (type == m::poweroff) {
    do_poweroff(env.id);
  } else if (type == m::session_start) {
    do_session_start(env.id, env.body);
  } else if (type == m::session_list) {
    expect_empty(env.body, "session list");
    send(env.id, m::result, to_json(sessions_.list()));
  } else if (type == m::session_attach) {
    do_session_attach(env.id, env.body);
  } else if (type == m::session_stop) {
    do_session_stop(env.id, env.body);
  } else {
    send_error(env.id, "protocol",
               "unknown request type '" + type
                 + "' (the agent understands health, ports, exec, sync, "
                   "poweroff, stdin, signal, credit, session.start, "
                   "session.list, session.attach, session.stop and detach)");
  }
}

void session::send(std::uint64_t id, const char* type, json body) {
  wire::envelope env;
  env.id = id;
  env.type = type;
  env.body = std::move(body);
  outbox_.push(wire::encode_frame(env));
}

void session::fail_request(std::uint64_t id, const char* code,
                           std::string message) {
  // Exactly one final frame per id: an error on a running exec's id ends it.
  if (execs_.count(id) != 0)
    abort_exec(id);
  // An attach or a waiting stop on this id ends too; its session goes on.
  for (auto& [name, g] : sessions_.all()) {
    g.followers.erase(id);
    g.stop_waiters.erase(
      std::remove(g.stop_waiters.begin(), g.stop_waiters.end(), id),
      g.stop_waiters.end());
  }
  send_error(id, code, std::move(message));
}

void session::send_error(std::uint64_t id, const char* code,
                         std::string message) {
  error_body err;
  err.code = code;
  err.message = std::move(message);
  send(id, agent_msg::error, to_json(err));
}

// -- requests ------------------------------------------------------------------

void session::do_exec(std::uint64_t id, const json& body) {
  auto spec = decode<exec_spec>(body);
  child_process c;
  try {
    c = spawn(spec);
  } catch (const std::system_error& e) {
    send_error(id, "internal",
               "cannot start '" + spec.argv[0] + "': " + e.what());
    return;
  }
  running r;
  r.pid = c.pid;
  r.in_fd = c.stdin_fd;
  r.out_fd = c.stdout_fd;
  r.err_fd = c.stderr_fd;
  r.credit = static_cast<std::int64_t>(credit_window);
  execs_.emplace(id, std::move(r));
}

void session::do_stdin(std::uint64_t id, const json& body) {
  auto chunk = decode<stdin_chunk>(body);
  if (auto* g = sessions_.followed_by(id)) {
    // An attach's stdin feeds the session; its end is the attach's, not the
    // session's (the next attach may type more), so eof is not passed on.
    if (g->in_fd < 0)
      return grant_stdin(id, chunk.data.size());
    if (!chunk.data.empty())
      g->stdin_owners.emplace_back(id, chunk.data.size());
    g->stdin_buf += chunk.data;
    write_session_stdin(*g);
    return;
  }
  auto it = execs_.find(id);
  // The command may have ended while the host was still sending: not an error.
  if (it == execs_.end())
    return;
  if (it->second.in_fd < 0)
    return grant_stdin(id, chunk.data.size());
  it->second.stdin_buf += chunk.data;
  it->second.stdin_eof = it->second.stdin_eof || chunk.eof;
  write_stdin(id, it->second);
}

void session::grant_stdin(std::uint64_t id, std::size_t n) {
  // Only a host that does flow control (it read credit_window from health)
  // sends stdin that needs credit; it is the only kind this agent serves.
  if (n > 0)
    send(id, agent_msg::credit, to_json(stream_credit{n}));
}

void session::write_session_stdin(guest_session& g) {
  auto before = g.stdin_buf.size();
  write_pending(g.in_fd, g.stdin_buf, false);
  auto done = before - g.stdin_buf.size();
  while (done > 0 && !g.stdin_owners.empty()) {
    auto& [id, left] = g.stdin_owners.front();
    auto n = std::min(done, left);
    if (g.followers.count(id) != 0)
      grant_stdin(id, n);
    done -= n;
    left -= n;
    if (left == 0)
      g.stdin_owners.pop_front();
  }
}

void session::do_signal(std::uint64_t id, const json& body) {
  auto req = decode<signal_request>(body);
  if (auto* g = sessions_.followed_by(id)) {
    if (!g->exited)
      signal_session(g->pid, req.signal);
    return;
  }
  auto it = execs_.find(id);
  if (it == execs_.end())
    return;
  // The command leads its own session, so this reaches its whole group.
  ::kill(-it->second.pid, req.signal);
}

void session::do_credit(std::uint64_t id, const json& body) {
  auto more = static_cast<std::int64_t>(decode<stream_credit>(body).bytes);
  if (auto* g = sessions_.followed_by(id)) {
    auto& credit = g->followers.at(id);
    credit = std::min(credit + more, credit_limit);
    return;
  }
  // Late credit for an exec that just ended is not an error.
  auto it = execs_.find(id);
  if (it != execs_.end())
    it->second.credit = std::min(it->second.credit + more, credit_limit);
}

void session::do_poweroff(std::uint64_t id) {
  send(id, agent_msg::result, json::object());
  outbox_.flush_blocking(2000ms);
  ::sync();
  ::reboot(RB_POWER_OFF);
  // Only reached without CAP_SYS_BOOT; the host falls back to killing the VMM.
  log_errno("poweroff", errno);
  for (;;)
    ::pause();
}

// -- running commands ----------------------------------------------------------

void session::reap() {
  signalfd_siginfo info[16];
  while (::read(sigfd_, info, sizeof(info)) > 0) {
  }
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    if (orphans_.erase(pid) != 0)
      continue;
    if (sessions_.reaped(pid, status))
      continue;
    for (auto& [id, r] : execs_) {
      if (r.pid == pid && !r.exited) {
        r.exited = true;
        r.status = status;
        r.exited_at = clock_type::now();
        close_fd(r.in_fd);
        grant_stdin(id, r.stdin_buf.size());
        r.stdin_buf.clear();
        break;
      }
    }
  }
}

void session::pump(std::uint64_t id, running& r, int stream) {
  int& fd = stream == 1 ? r.out_fd : r.err_fd;
  if (fd < 0 || r.credit <= 0)
    return;
  std::string buf(
      std::min<std::size_t>(chunk_size, static_cast<std::size_t>(r.credit)),
      '\0');
  auto n = ::read(fd, buf.data(), buf.size());
  if (n > 0) {
    r.credit -= n;
    buf.resize(static_cast<std::size_t>(n));
    send(id, agent_msg::output, to_json(output_chunk{stream, std::move(buf)}));
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close_fd(fd);
  }
}

void session::write_stdin(std::uint64_t id, running& r) {
  auto before = r.stdin_buf.size();
  write_pending(r.in_fd, r.stdin_buf, r.stdin_eof);
  grant_stdin(id, before - r.stdin_buf.size());
}

void session::write_pending(int& fd, std::string& buf, bool eof) {
  while (fd >= 0 && !buf.empty()) {
    auto n = ::write(fd, buf.data(), buf.size());
    if (n > 0) {
      buf.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    // EPIPE: the command closed its stdin; drop what it will never read.
    buf.clear();
    close_fd(fd);
  }
  if (fd >= 0 && buf.empty() && eof)
    close_fd(fd);
}

void session::finish_ready() {
  auto now = clock_type::now();
  std::vector<std::uint64_t> done;
  for (auto& [id, r] : execs_) {
    if (!r.exited)
      continue;
    bool open = r.out_fd >= 0 || r.err_fd >= 0;
    // Out of credit, what is left in the pipes waits for the host: the grace
    // for background processes only runs while the agent can read.
    if (open && (r.credit <= 0 || now - r.exited_at < drain_grace))
      continue;
    // Take what is already in the pipes, then stop waiting for EOF.
    for (int stream : {1, 2})
      for (int i = 0; i < 16 && (stream == 1 ? r.out_fd : r.err_fd) >= 0; ++i)
        pump(id, r, stream);
    if ((r.out_fd >= 0 || r.err_fd >= 0) && r.credit <= 0)
      continue; // the rest goes once the host grants more
    close_fd(r.out_fd);
    close_fd(r.err_fd);
    done.push_back(id);
  }
  for (auto id : done) {
    auto& r = execs_.at(id);
    exec_result res;
    if (WIFSIGNALED(r.status)) {
      res.signal = WTERMSIG(r.status);
      res.exit_code = 128 + res.signal;
    } else {
      res.exit_code = WEXITSTATUS(r.status);
    }
    close_fd(r.in_fd);
    execs_.erase(id);
    send(id, agent_msg::result, to_json(res));
  }
}

void session::abort_exec(std::uint64_t id) {
  auto it = execs_.find(id);
  if (it == execs_.end())
    return;
  auto& r = it->second;
  // The group reaches what the command started; the pid itself covers a
  // child that has not reached setsid() yet.
  ::kill(-r.pid, SIGKILL);
  if (!r.exited)
    ::kill(r.pid, SIGKILL);
  if (!r.exited)
    orphans_.insert(r.pid);
  close_fd(r.in_fd);
  close_fd(r.out_fd);
  close_fd(r.err_fd);
  execs_.erase(it);
}

// -- guest sessions ------------------------------------------------------------

bool session::id_in_use(std::uint64_t id) {
  for (auto& [name, g] : sessions_.all())
    if (g.followers.count(id) != 0
        || std::find(g.stop_waiters.begin(), g.stop_waiters.end(), id)
             != g.stop_waiters.end())
      return true;
  return false;
}

void session::do_session_start(std::uint64_t id, const json& body) {
  auto req = decode<session_start_request>(body);
  try {
    auto& g = sessions_.start(req);
    send(id, agent_msg::result, to_json(sessions_.info(g)));
  } catch (const session_error& e) {
    send_error(id, e.code, e.what());
  } catch (const std::system_error& e) {
    send_error(id, "internal",
               "cannot start '" + req.exec.argv[0] + "': " + e.what());
  }
}

void session::do_session_attach(std::uint64_t id, const json& body) {
  auto req = decode<session_attach_request>(body);
  guest_session* g = nullptr;
  try {
    g = &sessions_.get(req.session);
  } catch (const session_error& e) {
    return send_error(id, e.code, e.what());
  }
  // The replay (at most the ring, 1 MiB) is counted against the window.
  auto credit = static_cast<std::int64_t>(credit_window);
  if (req.replay)
    for (auto& chunk : g->ring.snapshot()) {
      credit -= static_cast<std::int64_t>(chunk.data.size());
      send(id, agent_msg::output, to_json(chunk));
    }
  if (req.follow && !g->ended)
    g->followers.emplace(id, credit);
  else
    send(id, agent_msg::result, to_json(sessions_.info(*g)));
}

void session::do_session_stop(std::uint64_t id, const json& body) {
  auto req = decode<session_stop_request>(body);
  guest_session* g = nullptr;
  try {
    g = &sessions_.get(req.session);
  } catch (const session_error& e) {
    return send_error(id, e.code, e.what());
  }
  if (g->exited) {
    // Already over (maybe still draining): nothing to signal.
    send(id, agent_msg::result, to_json(sessions_.info(*g)));
    return;
  }
  if (req.signal != 0) {
    signal_session(g->pid, req.signal);
    send(id, agent_msg::result, to_json(sessions_.info(*g)));
    return;
  }
  signal_session(g->pid, SIGTERM);
  if (!g->kill_at)
    g->kill_at = clock_type::now() + stop_grace;
  g->stop_waiters.push_back(id);
}

bool session::session_held(const guest_session& g) {
  for (auto& [id, credit] : g.followers)
    if (credit <= 0)
      return true;
  return false;
}

void session::pump_session(guest_session& g, int stream) {
  int& fd = stream == 1 ? g.out_fd : g.err_fd;
  if (fd < 0 || session_held(g))
    return;
  // Never more than the most starved follower may take.
  std::int64_t room = static_cast<std::int64_t>(chunk_size);
  for (auto& [id, credit] : g.followers)
    room = std::min(room, credit);
  std::string buf(static_cast<std::size_t>(room), '\0');
  auto n = ::read(fd, buf.data(), buf.size());
  if (n > 0) {
    buf.resize(static_cast<std::size_t>(n));
    g.ring.append(stream, buf);
    if (!g.followers.empty()) {
      auto frame_body = to_json(output_chunk{stream, std::move(buf)});
      for (auto& [id, credit] : g.followers) {
        credit -= n;
        send(id, agent_msg::output, frame_body);
      }
    }
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close_fd(fd);
  }
}

void session::end_attach(std::uint64_t id) {
  auto* g = sessions_.followed_by(id);
  if (g == nullptr)
    return;
  g->followers.erase(id);
  send(id, agent_msg::result, to_json(sessions_.info(*g)));
}

void session::finish_sessions() {
  auto now = clock_type::now();
  std::vector<guest_session*> done;
  for (auto& [name, g] : sessions_.all()) {
    if (!g.exited && g.kill_at && now >= *g.kill_at) {
      signal_session(g.pid, SIGKILL);
      g.kill_at.reset();
    }
    if (!g.exited || g.ended)
      continue;
    bool open = g.out_fd >= 0 || g.err_fd >= 0;
    if (open && (session_held(g) || now - g.exited_at < drain_grace))
      continue;
    for (int stream : {1, 2})
      for (int i = 0; i < 16 && (stream == 1 ? g.out_fd : g.err_fd) >= 0; ++i)
        pump_session(g, stream);
    if ((g.out_fd >= 0 || g.err_fd >= 0) && session_held(g))
      continue; // the rest goes once the followers grant more
    close_fd(g.out_fd);
    close_fd(g.err_fd);
    close_fd(g.in_fd);
    g.stdin_buf.clear();
    g.stdin_owners.clear();
    done.push_back(&g);
  }
  for (auto* g : done) {
    auto result = to_json(sessions_.info(*g));
    for (auto& [id, credit] : g->followers)
      send(id, agent_msg::result, result);
    for (auto id : g->stop_waiters)
      send(id, agent_msg::result, result);
    g->followers.clear();
    g->stop_waiters.clear();
    sessions_.end(*g); // may drop older ended sessions, never g
  }
}

} // namespace banger::agent
