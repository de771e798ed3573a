#include "actors/agent.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <unistd.h>

#include "actors/socket_reader.hpp"
#include "actors/socket_writer.hpp"
#include "messages/type_ids.hpp"
#include "services/error.hpp"

namespace banger {

namespace {

using namespace std::chrono_literals;

// Past this many unwritten bytes the guest is not reading its channel: with
// flow control the queue holds requests and at most a window of stdin per
// stream, so only a guest that stopped reading gets here.
constexpr std::size_t max_write_backlog = 64u << 20;

struct pending_call {
  // probe: a boot-wait "health" whose answer goes to every ready waiter;
  // health: a direct "health" call; ports: a "ports" call.
  // session / sessions / attach: session.* calls (attach streams like exec).
  enum kind_t {
    probe,
    health,
    ports,
    exec,
    plain,
    session,
    sessions,
    attach
  } kind = plain;

  pending_call(kind_t k, caf::response_promise p, caf::actor s,
               std::uint64_t id)
      : kind(k), rp(std::move(p)), sink(std::move(s)), stream(id) {}

  caf::response_promise rp;
  caf::actor sink;
  std::uint64_t stream = 0;
  // Flow control of a stream's stdin (docs/protocol.md §6.2): bytes the
  // agent takes now, and what waits for more.
  std::int64_t stdin_credit = 0;
  std::deque<stdin_chunk> stdin_held;
};

struct ready_waiter {
  caf::response_promise rp;
  std::chrono::steady_clock::time_point deadline;
};

struct agent_state {
  [[maybe_unused]] static inline const char* name = "agent";
  std::string vm;
  int fd = -1;
  std::string broken; // why the connection is unusable; empty while fine
  std::unique_ptr<socket_reader> reader;
  std::unique_ptr<socket_writer> writer;
  // The agent's credit window from its health; 0: an agent without flow
  // control (older than the daemon), which must not get "credit" frames.
  std::uint64_t window = 0;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, pending_call> calls;
  std::vector<ready_waiter> waiters;
  bool ticking = false;
  std::chrono::steady_clock::time_point last_probe;

  ~agent_state() {
    reader.reset(); // joins the threads before the fd goes away
    writer.reset();
    if (fd >= 0)
      ::close(fd);
  }
};

using agent_actor_ptr = caf::stateful_actor<agent_state>*;

caf::error closed_error(agent_actor_ptr self) {
  return make_error(ec::agent, "the guest agent of VM \"" + self->state.vm
                                 + "\" is not reachable: "
                                 + self->state.broken);
}

void fail_all(agent_actor_ptr self) {
  auto err = closed_error(self);
  for (auto& [id, call] : self->state.calls)
    call.rp.deliver(err);
  self->state.calls.clear();
  for (auto& w : self->state.waiters)
    w.rp.deliver(err);
  self->state.waiters.clear();
}

/// Sends a request; returns its id, or 0 if the connection is broken.
std::uint64_t send_request(agent_actor_ptr self, const std::string& type,
                           wire::json body, std::uint64_t id = 0) {
  auto& st = self->state;
  if (!st.broken.empty())
    return 0;
  if (id == 0)
    id = st.next_id++;
  wire::envelope env;
  env.id = id;
  env.type = type;
  env.body = std::move(body);
  // Queued for the writer thread: a guest that stops reading its channel
  // never blocks this actor.
  st.writer->push(wire::encode_frame(env));
  if (st.writer->failed() || st.writer->backlog() > max_write_backlog) {
    st.broken = st.writer->failed()
                    ? std::string("writing to the channel failed")
                    : "the guest stopped reading its channel ("
                          + std::to_string(st.writer->backlog())
                          + " bytes queued)";
    fail_all(self);
    return 0;
  }
  return id;
}

/// A boot-wait probe, unless one is still unanswered and younger than 2 s:
/// a guest that does not read its port (no agent yet, a wedged one) gets a
/// frame every 2 s, not 10 a second that fill the socket until a write
/// blocks this actor for good.
void probe(agent_actor_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  auto unanswered = std::find_if(st.calls.begin(), st.calls.end(), [](auto& c) {
    return c.second.kind == pending_call::probe;
  });
  if (unanswered != st.calls.end()) {
    if (now - st.last_probe < 2s)
      return;
    // A late answer to it is ignored; the new probe asks again.
    std::erase_if(st.calls,
                  [](auto& c) { return c.second.kind == pending_call::probe; });
  }
  st.last_probe = now;
  auto id = send_request(self, agent_msg::health, wire::json::object());
  if (id != 0)
    st.calls.emplace(id, pending_call{pending_call::probe, {}, nullptr, 0});
}

/// Starts a streaming call (exec, session attach): the sink first learns
/// where its stdin (and detach) go, before any output can arrive; the
/// answer comes through the returned promise.
caf::response_promise start_stream(agent_actor_ptr self, pending_call::kind_t kind,
                                   const char* type, wire::json body,
                                   const caf::actor& sink, std::uint64_t stream) {
  auto& st = self->state;
  auto id = st.next_id++;
  self->send(sink, atom::started_v, stream, caf::actor_cast<caf::actor>(self), id);
  auto rp = self->make_response_promise();
  pending_call call{kind, rp, sink, stream};
  call.stdin_credit = static_cast<std::int64_t>(st.window);
  st.calls.emplace(id, std::move(call));
  // On a failed write, send_request fails every call, this one too.
  send_request(self, type, std::move(body), id);
  return rp;
}

/// Sends a request whose answer is delivered through a promise as is.
template <class T>
caf::result<T> call(agent_actor_ptr self, const char* type,
                    pending_call::kind_t kind,
                    wire::json body = wire::json::object()) {
  if (!self->state.broken.empty())
    return closed_error(self);
  auto rp = self->make_response_promise();
  auto id = send_request(self, type, std::move(body));
  if (id == 0)
    rp.deliver(closed_error(self)); // the promise owns the answer now
  else
    self->state.calls.emplace(id, pending_call{kind, rp, nullptr, 0});
  return rp;
}

/// Sends a stream's held stdin as far as its credit goes, splitting chunks,
/// and tells the sink how much left, so that it reads more from its client.
void flush_stdin(agent_actor_ptr self, std::uint64_t id, pending_call& call) {
  auto& st = self->state;
  std::uint64_t sent = 0;
  while (!call.stdin_held.empty()) {
    auto& chunk = call.stdin_held.front();
    bool limited = st.window != 0;
    if (limited && call.stdin_credit <= 0 && !chunk.data.empty())
      break;
    auto n = limited ? std::min(chunk.data.size(),
                                static_cast<std::size_t>(std::max<std::int64_t>(
                                    call.stdin_credit, 0)))
                     : chunk.data.size();
    stdin_chunk piece{chunk.data.substr(0, n),
                      chunk.eof && n == chunk.data.size()};
    chunk.data.erase(0, n);
    if (chunk.data.empty())
      call.stdin_held.pop_front();
    call.stdin_credit -= static_cast<std::int64_t>(n);
    sent += n;
    if (send_request(self, agent_msg::stdin_, to_json(piece), id) == 0)
      return; // broken: every call failed, this one too
  }
  if (sent > 0 && call.sink)
    self->send(call.sink, atom::credit_v, atom::input_v, call.stream, sent);
}

void on_frame(agent_actor_ptr self, wire::envelope& env) {
  auto& st = self->state;
  auto it = st.calls.find(env.id);
  if (it == st.calls.end())
    return; // a late answer to a probe we no longer wait for
  auto& call = it->second;
  try {
    if (env.type == agent_msg::output) {
      if (call.kind != pending_call::exec && call.kind != pending_call::attach)
        return;
      auto chunk = decode<output_chunk>(env.body);
      if (call.sink) {
        // The sink grants the credit back once its client took the bytes.
        self->send(call.sink, atom::output_v, call.stream, std::move(chunk));
      } else if (st.window != 0) {
        // Nobody reads this output: let the command go on.
        send_request(self, agent_msg::credit,
                     to_json(stream_credit{chunk.data.size()}), env.id);
      }
      return;
    }
    if (env.type == agent_msg::credit) {
      // The agent took stdin: send what waited for it.
      auto more = decode<stream_credit>(env.body).bytes;
      call.stdin_credit += static_cast<std::int64_t>(
          std::min<std::uint64_t>(more, std::uint64_t{1} << 40));
      flush_stdin(self, env.id, call);
      return;
    }
    if (env.type == agent_msg::error) {
      auto body = decode<error_body>(env.body);
      // The session calls refuse with the daemon's own codes (a name taken,
      // a session not found): pass those on as they are.
      auto code = ec_from_string(body.code);
      bool own = code == ec::not_found || code == ec::already_exists
                 || code == ec::invalid_argument;
      if (call.kind != pending_call::probe)
        call.rp.deliver(
          own ? make_error(code, "VM \"" + st.vm + "\": " + body.message)
              : make_error(ec::agent, "guest agent of VM \"" + st.vm
                                        + "\": " + body.message));
      st.calls.erase(it);
      return;
    }
    if (env.type != agent_msg::result)
      throw wire::decode_error("unexpected frame type '" + env.type + "'");
    switch (call.kind) {
      case pending_call::probe: {
        auto health = decode<agent_health>(env.body);
        st.window = health.credit_window;
        // Up, but banger-init is still installing keys and [guest] files:
        // the next tick asks again.
        if (!health.provisioned)
          break;
        for (auto& w : st.waiters)
          w.rp.deliver(health);
        st.waiters.clear();
        break;
      }
      case pending_call::health: {
        auto health = decode<agent_health>(env.body);
        st.window = health.credit_window;
        call.rp.deliver(health);
        break;
      }
      case pending_call::ports:
        call.rp.deliver(decode<agent_ports_reply>(env.body));
        break;
      case pending_call::exec:
        call.rp.deliver(decode<exec_result>(env.body));
        break;
      case pending_call::plain:
        call.rp.deliver(true);
        break;
      case pending_call::session:
      case pending_call::attach:
        call.rp.deliver(decode<session_info>(env.body));
        break;
      case pending_call::sessions:
        call.rp.deliver(decode<session_list>(env.body));
        break;
    }
    st.calls.erase(it);
  } catch (const wire::decode_error& e) {
    if (call.kind != pending_call::probe)
      call.rp.deliver(make_error(ec::protocol, "guest agent of VM \"" + st.vm
                                                 + "\" sent a bad frame: "
                                                 + e.what()));
    st.calls.erase(it);
  }
}

caf::behavior agent_actor(agent_actor_ptr self, std::string socket_path,
                          std::string vm_name) {
  auto& st = self->state;
  st.vm = std::move(vm_name);
  st.fd = wire::connect_unix(socket_path);
  if (st.fd < 0)
    st.broken =
        "cannot connect to " + socket_path + ": " + std::strerror(errno);
  else {
    st.reader = std::make_unique<socket_reader>(
        caf::actor_cast<caf::actor>(self), st.fd);
    st.writer = std::make_unique<socket_writer>(
        caf::actor_cast<caf::actor>(self), st.fd);
  }
  // Stopped (VM gone, daemon shutting down): nobody may wait forever.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (self->state.broken.empty())
      self->state.broken = "the agent connection was closed";
    fail_all(self);
    self->quit(msg.reason);
  });
  return {
    [=](atom::ready, std::uint32_t timeout_ms) -> caf::result<agent_health> {
      auto& st = self->state;
      if (!st.broken.empty())
        return closed_error(self);
      auto rp = self->make_response_promise();
      st.waiters.push_back(
        {rp, std::chrono::steady_clock::now()
               + std::chrono::milliseconds(timeout_ms)});
      if (!st.ticking) {
        st.ticking = true;
        probe(self);
        self->delayed_send(self, 100ms, atom::tick_v);
      }
      return rp;
    },
    [=](atom::tick) {
      auto& st = self->state;
      auto now = std::chrono::steady_clock::now();
      for (auto i = st.waiters.begin(); i != st.waiters.end();) {
        if (i->deadline <= now) {
          i->rp.deliver(make_error(ec::agent,
                                   "the guest agent of VM \"" + st.vm
                                     + "\" did not answer in time; see "
                                       "the serial log (banger vm show "
                                     + st.vm + ")"));
          i = st.waiters.erase(i);
        } else {
          ++i;
        }
      }
      if (st.waiters.empty() || !st.broken.empty()) {
        st.ticking = false;
        return;
      }
      probe(self);
      self->delayed_send(self, 100ms, atom::tick_v);
    },
    [=](atom::health) {
      return call<agent_health>(self, agent_msg::health,
                                pending_call::health);
    },
    [=](atom::ports) {
      return call<agent_ports_reply>(self, agent_msg::ports,
                                     pending_call::ports);
    },
    [=](atom::exec, exec_spec& spec, caf::actor& sink,
        std::uint64_t stream) -> caf::result<exec_result> {
      if (!self->state.broken.empty())
        return closed_error(self);
      return start_stream(self, pending_call::exec, agent_msg::exec, to_json(spec),
                          sink, stream);
    },
    [=](atom::input, std::uint64_t call, stdin_chunk& chunk) {
      auto it = self->state.calls.find(call);
      if (it == self->state.calls.end())
        return;
      it->second.stdin_held.push_back(std::move(chunk));
      flush_stdin(self, call, it->second);
    },
    [=](atom::credit, std::uint64_t call, std::uint64_t bytes) {
      // The sink's client took `bytes` of this stream's output: the agent
      // may send that much more.
      if (self->state.window != 0 && self->state.calls.count(call) != 0)
        send_request(self, agent_msg::credit, to_json(stream_credit{bytes}),
                     call);
    },
    [=](atom::signal, std::uint64_t call, std::int32_t sig) {
      if (self->state.calls.count(call) != 0)
        send_request(self, agent_msg::signal,
                     to_json(signal_request{sig}), call);
    },
    [=](atom::session, atom::start, session_start_request& req) {
      return call<session_info>(self, agent_msg::session_start,
                                pending_call::session, to_json(req));
    },
    [=](atom::session, atom::list) {
      return call<session_list>(self, agent_msg::session_list,
                                pending_call::sessions);
    },
    [=](atom::session, atom::stop, session_stop_request& req) {
      return call<session_info>(self, agent_msg::session_stop,
                                pending_call::session, to_json(req));
    },
    [=](atom::session, atom::attach, session_attach_request& req,
        caf::actor& sink, std::uint64_t stream) -> caf::result<session_info> {
      if (!self->state.broken.empty())
        return closed_error(self);
      return start_stream(self, pending_call::attach, agent_msg::session_attach,
                          to_json(req), sink, stream);
    },
    [=](atom::detach, std::uint64_t call) {
      // The agent answers the attach with the session's info.
      if (self->state.calls.count(call) != 0)
        send_request(self, agent_msg::detach, wire::json::object(), call);
    },
    [=](atom::sync) {
      return call<bool>(self, agent_msg::sync, pending_call::plain);
    },
    [=](atom::poweroff) {
      return call<bool>(self, agent_msg::poweroff, pending_call::plain);
    },
    [=](atom::frame, wire::envelope& env) { on_frame(self, env); },
    [=](atom::invalid, std::uint64_t, const std::string&) {
      // A garbled frame from the guest; the stream is still in sync.
    },
    [=](atom::closed, const std::string& why) {
      self->state.broken = why;
      fail_all(self);
      self->quit();
    },
  };
}

} // namespace

caf::actor spawn_agent(caf::local_actor* parent, std::string socket_path,
                       std::string vm_name) {
  return parent->home_system().spawn<caf::detached>(
    agent_actor, std::move(socket_path), std::move(vm_name));
}

} // namespace banger
