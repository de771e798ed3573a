#include "actors/connection.hpp"

#include <csignal>
#include <map>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <unistd.h>

#include "actors/socket_reader.hpp"
#include "actors/socket_writer.hpp"
#include "messages/type_ids.hpp"
#include "services/error.hpp"
#include "services/lifecycle.hpp"
#include "services/log.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace {

// Stdin the client sent that the agent has not taken yet (all streams of the
// connection): past this, the connection stops reading its client until the
// agent catches up to half of it. Bounds the daemon's memory for stdin.
constexpr std::uint64_t max_stdin_pending = 2u << 20;
// Frames queued for a client that does not read them. With flow control
// each stream holds at most the agent's window here; only output of an agent
// without flow control (a VM started by an older banger) can pile up this
// far, and then the client is dropped rather than the daemon's memory grow.
constexpr std::size_t max_client_backlog = 64u << 20;

/// A request that streams (vm.exec, vm.run): where its stdin and signals go.
struct live_stream {
  std::string vm;        // the VM it runs in (vm.run: once created)
  caf::actor agent;      // set by (atom::started, ...)
  std::uint64_t call = 0;
  std::vector<stdin_chunk> early_stdin; // arrived before the exec started
  std::int32_t early_signal = 0;
  bool cancelled = false;
  caf::actor puller; // image.pull / kernel.pull: told when the client gives up
  // vm.session.attach: cancel and a client that goes away detach (the
  // session goes on) instead of killing.
  bool attach = false;
  bool early_detach = false;
  std::uint64_t stdin_pending = 0; // sent by the client, not yet to the agent
};

struct conn_state {
  [[maybe_unused]] static inline const char* name = "connection";
  int fd = -1;
  std::string tag; // short id of this connection, prefix of op ids
  std::unique_ptr<socket_reader> reader;
  std::unique_ptr<socket_writer> writer;
  bridge_deps deps;
  std::map<std::uint64_t, live_stream> streams;
  std::size_t in_flight = 0;
  std::uint64_t stdin_pending = 0; // over all streams
  bool closing = false;

  ~conn_state() {
    reader.reset(); // joins the threads before the fd goes away
    writer.reset();
    if (fd >= 0)
      ::close(fd);
  }
};

using self_ptr = caf::stateful_actor<conn_state>*;

/// Queues a frame for the client. `credit`: output bytes it carries, granted
/// back to the agent once the client's socket took the frame.
void send_frame(self_ptr self, std::uint64_t id, std::string type,
                wire::json body, std::uint64_t credit = 0) {
  auto& st = self->state;
  if (st.closing)
    return;
  wire::envelope env;
  env.id = id;
  env.type = std::move(type);
  env.body = std::move(body);
  // A failed write means the client is gone; the reader reports it.
  st.writer->push(wire::encode_frame(env), id, credit);
  if (st.writer->backlog() > max_client_backlog) {
    log::warn("bridge",
              "connection {}: the client stopped reading ({} bytes queued); "
              "dropping it",
              st.tag, st.writer->backlog());
    st.writer->stop(); // shuts the socket down: the reader reports closed
  }
}

/// Stdin of a stream reached the agent (or was dropped with the stream):
/// read from the client again once the backlog halved.
void stdin_taken(self_ptr self, live_stream* s, std::uint64_t bytes) {
  auto& st = self->state;
  if (s != nullptr)
    s->stdin_pending -= std::min(s->stdin_pending, bytes);
  st.stdin_pending -= std::min(st.stdin_pending, bytes);
  if (st.reader->paused() && st.stdin_pending <= max_stdin_pending / 2)
    st.reader->pause(false);
}

void maybe_quit(self_ptr self) {
  if (self->state.closing && self->state.in_flight == 0)
    self->quit();
}

void finish(self_ptr self, std::uint64_t id) {
  auto it = self->state.streams.find(id);
  if (it != self->state.streams.end()) {
    auto pending = it->second.stdin_pending;
    self->state.streams.erase(it);
    stdin_taken(self, nullptr, pending);
  }
  --self->state.in_flight;
  maybe_quit(self);
}

void reply(self_ptr self, std::uint64_t id, wire::json body) {
  send_frame(self, id, "result", std::move(body));
  finish(self, id);
}

void reply_error(self_ptr self, std::uint64_t id, const std::string& type,
                 const caf::error& err) {
  error_body body;
  body.code = to_string(error_code(err));
  body.message = error_message(err);
  body.op = self->state.tag + "-" + std::to_string(id);
  log::warn("bridge", "op {} ({}) failed: {}", body.op, type, body.message);
  send_frame(self, id, "error", to_json(body));
  finish(self, id);
}

/// Sends a request to `dest` and answers the client with its reply.
template <class Reply, class Handle, class... Ts>
void forward(self_ptr self, std::uint64_t id, const std::string& type,
             const Handle& dest, Ts&&... xs) {
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [=](Reply& r) {
        if constexpr (std::is_same_v<Reply, bool>)
          reply(self, id, wire::json::object());
        else
          reply(self, id, to_json(r));
      },
      [=](caf::error& err) { reply_error(self, id, type, err); });
}

caf::actor self_handle(self_ptr self) {
  return caf::actor_cast<caf::actor>(self);
}

void route_input(self_ptr self, live_stream& s, stdin_chunk chunk) {
  // Counted until the agent actor says the agent took it; too much waiting
  // and the client is not read (its writes block) until it drains.
  s.stdin_pending += chunk.data.size();
  self->state.stdin_pending += chunk.data.size();
  if (self->state.stdin_pending > max_stdin_pending)
    self->state.reader->pause(true);
  if (s.agent)
    self->send(s.agent, atom::input_v, s.call, std::move(chunk));
  else
    s.early_stdin.push_back(std::move(chunk));
}

void route_signal(self_ptr self, std::uint64_t id, live_stream& s,
                  std::int32_t sig) {
  if (s.puller) {
    // A pull has no process to signal: any signal ends this client's wait.
    self->send(s.puller, atom::cancel_v, self_handle(self), id);
    return;
  }
  if (s.agent)
    self->send(s.agent, atom::signal_v, s.call, sig);
  else
    s.early_signal = sig;
}

/// Ends a session attach without touching the session.
void detach(live_stream& s, self_ptr self) {
  if (s.agent)
    self->send(s.agent, atom::detach_v, s.call);
  else
    s.early_detach = true;
}

void run_exec(self_ptr self, std::uint64_t id, std::string vm, exec_spec exec,
              std::function<void(caf::expected<exec_result>)> done) {
  self->state.streams[id].vm = vm;
  self
    ->request(self->state.deps.manager, caf::infinite, atom::exec_v, vm,
              std::move(exec), self_handle(self), id)
    .then([done](exec_result& r) { done(r); },
          [done](caf::error& err) { done(err); });
}

/// vm.run: create, exec, then delete (--rm) or stop; the reply comes after
/// the cleanup so that "the command returned" means "nothing is left".
void handle_run(self_ptr self, std::uint64_t id, vm_run_request req) {
  auto manager = self->state.deps.manager;
  self->state.streams[id];
  self
    ->request(manager, caf::infinite, atom::create_v, req.spec,
              self_handle(self), id)
    .then(
      [=](vm_info& info) {
        auto name = info.name;
        auto cleanup = [=](std::function<void()> then) {
          if (req.rm)
            self->request(manager, caf::infinite, atom::del_v, name, true)
              .then([then](bool) { then(); },
                    [then](caf::error&) { then(); });
          else
            self->request(manager, caf::infinite, atom::stop_v, name,
                          std::uint32_t{0})
              .then([then](vm_info&) { then(); },
                    [then](caf::error&) { then(); });
        };
        auto& s = self->state.streams[id];
        if (s.cancelled || self->state.closing) {
          cleanup([=] {
            reply_error(self, id, "vm.run",
                        make_error(ec::cancelled, "vm run was cancelled"));
          });
          return;
        }
        run_exec(self, id, name, req.exec,
                 [=](caf::expected<exec_result> r) {
                   cleanup([=] {
                     if (r)
                       reply(self, id, to_json(*r));
                     else
                       reply_error(self, id, "vm.run", r.error());
                   });
                 });
      },
      [=](caf::error& err) { reply_error(self, id, "vm.run", err); });
}

void dispatch(self_ptr self, wire::envelope& env) {
  auto& st = self->state;
  auto id = env.id;
  const auto& type = env.type;
  // Inputs to a running stream carry the stream's id and get no reply.
  if (type == "stdin" || type == "signal" || type == "cancel") {
    auto it = st.streams.find(id);
    if (it == st.streams.end())
      return; // the stream just ended; late input is dropped
    try {
      if (type == "stdin")
        route_input(self, it->second, decode<stdin_chunk>(env.body));
      else if (type == "signal")
        route_signal(self, id, it->second,
                     decode<signal_request>(env.body).signal);
      else if (it->second.attach) {
        detach(it->second, self);
      } else {
        it->second.cancelled = true;
        route_signal(self, id, it->second, SIGKILL);
      }
    } catch (const wire::decode_error& e) {
      send_frame(self, id, "error",
                 to_json(error_body{"protocol", e.what(), {}}));
    }
    return;
  }
  ++st.in_flight;
  auto& d = st.deps;
  try {
    if (type == "vm.create") {
      forward<vm_info>(self, id, type, d.manager, atom::create_v,
                       decode<vm_spec>(env.body), self_handle(self), id);
    } else if (type == "vm.list") {
      wire::object_reader(env.body, "vm list").finish();
      forward<vm_list>(self, id, type, d.manager, atom::list_v);
    } else if (type == "vm.show") {
      forward<vm_info>(self, id, type, d.manager, atom::get_v,
                       decode<vm_ref>(env.body).name);
    } else if (type == "vm.start") {
      forward<vm_info>(self, id, type, d.manager, atom::start_v,
                       decode<vm_ref>(env.body).name, self_handle(self), id);
    } else if (type == "vm.stop") {
      auto req = decode<vm_stop_request>(env.body);
      forward<vm_info>(self, id, type, d.manager, atom::stop_v, req.name,
                       req.timeout_s);
    } else if (type == "vm.kill") {
      auto req = decode<vm_kill_request>(env.body);
      auto signal = parse_kill_signal(req.signal);
      if (!signal)
        throw wire::decode_error("vm kill: signal \"" + req.signal
                                 + "\" is not one of KILL, TERM, INT, HUP");
      forward<vm_info>(self, id, type, d.manager, atom::kill_v, req.name,
                       static_cast<std::int32_t>(*signal));
    } else if (type == "vm.ports") {
      auto req = decode<vm_ref>(env.body);
      forward<agent_ports_reply>(self, id, type, d.manager, atom::ports_v,
                                 req.name);
    } else if (type == "vm.set") {
      auto req = decode<vm_set_request>(env.body);
      if (!req.changes_something())
        throw wire::decode_error("vm set: nothing to change (give \"nat\", \"vcpu\", "
                                 "\"memory_mib\" or \"disk_bytes\")");
      forward<vm_info>(self, id, type, d.manager, atom::put_v, std::move(req));
    } else if (type == "vm.delete") {
      auto req = decode<vm_delete_request>(env.body);
      forward<bool>(self, id, type, d.manager, atom::del_v, req.name,
                    req.force);
    } else if (type == "vm.exec") {
      auto req = decode<vm_exec_request>(env.body);
      run_exec(self, id, req.name, std::move(req.exec),
               [=](caf::expected<exec_result> r) {
                 if (r)
                   reply(self, id, to_json(*r));
                 else
                   reply_error(self, id, "vm.exec", r.error());
               });
    } else if (type == "vm.session.start") {
      auto req = decode<vm_session<session_start_request>>(env.body);
      forward<session_info>(self, id, type, d.manager, atom::session_v,
                            atom::start_v, req.name, std::move(req.body));
    } else if (type == "vm.session.list") {
      forward<session_list>(self, id, type, d.manager, atom::session_v,
                            atom::list_v, decode<vm_ref>(env.body).name);
    } else if (type == "vm.session.stop") {
      auto req = decode<vm_session<session_stop_request>>(env.body);
      forward<session_info>(self, id, type, d.manager, atom::session_v,
                            atom::stop_v, req.name, std::move(req.body));
    } else if (type == "vm.session.attach") {
      auto req = decode<vm_session<session_attach_request>>(env.body);
      auto& s = st.streams[id];
      s.vm = req.name;
      s.attach = true;
      forward<session_info>(self, id, type, d.manager, atom::session_v,
                            atom::attach_v, req.name, std::move(req.body),
                            self_handle(self), id);
    } else if (type == "vm.run") {
      handle_run(self, id, decode<vm_run_request>(env.body));
    } else if (type == "image.list") {
      wire::object_reader(env.body, "image list").finish();
      forward<image_list>(self, id, type, d.library, atom::image_v,
                          atom::list_v);
    } else if (type == "image.import") {
      forward<image_info>(self, id, type, d.library, atom::image_v,
                          atom::import_v,
                          decode<image_import_request>(env.body));
    } else if (type == "image.show") {
      forward<image_info>(self, id, type, d.library, atom::image_v,
                          atom::get_v, decode<vm_ref>(env.body).name);
    } else if (type == "image.rm") {
      auto req = decode<vm_delete_request>(env.body);
      forward<image_info>(self, id, type, d.library, atom::image_v,
                          atom::del_v, req.name, req.force);
    } else if (type == "kernel.show") {
      forward<kernel_info>(self, id, type, d.library, atom::kernel_v,
                           atom::get_v, decode<vm_ref>(env.body).name);
    } else if (type == "kernel.rm") {
      auto req = decode<vm_delete_request>(env.body);
      forward<kernel_info>(self, id, type, d.library, atom::kernel_v,
                           atom::del_v, req.name, req.force);
    } else if (type == "image.pull") {
      st.streams[id].puller = d.image_puller;
      forward<image_info>(self, id, type, d.image_puller, atom::pull_v,
                          decode<image_pull_request>(env.body),
                          self_handle(self), id);
    } else if (type == "image.build") {
      // A stream like vm.exec: signals and cancel reach the command.
      st.streams[id];
      forward<image_info>(self, id, type, d.image_builder, atom::image_v,
                          atom::build_v, decode<image_build_request>(env.body),
                          self_handle(self), id);
    } else if (type == "kernel.pull") {
      st.streams[id].puller = d.kernel_puller;
      forward<kernel_info>(self, id, type, d.kernel_puller, atom::pull_v,
                           decode<kernel_pull_request>(env.body),
                           self_handle(self), id);
    } else if (type == "kernel.list") {
      wire::object_reader(env.body, "kernel list").finish();
      forward<kernel_list>(self, id, type, d.library, atom::kernel_v,
                           atom::list_v);
    } else if (type == "kernel.import") {
      forward<kernel_info>(self, id, type, d.library, atom::kernel_v,
                           atom::import_v,
                           decode<kernel_import_request>(env.body));
    } else if (type == "daemon.status") {
      forward<daemon_status>(self, id, type, d.manager, atom::status_v);
    } else if (type == "daemon.stop") {
      reply(self, id, wire::json::object());
      caf::anon_send(d.shutdown, atom::shutdown_v);
    } else {
      reply_error(self, id, type,
                  make_error(ec::protocol,
                             "unknown message type \"" + type
                               + "\" (see docs/protocol.md)"));
    }
  } catch (const wire::decode_error& e) {
    reply_error(self, id, type,
                make_error(ec::protocol, std::string("bad \"") + type
                                           + "\" request: " + e.what()));
  }
}

caf::behavior connection_impl(self_ptr self, int fd, bridge_deps deps) {
  auto& st = self->state;
  st.fd = fd;
  st.deps = std::move(deps);
  st.tag = random_id().substr(0, 8);
  st.reader = std::make_unique<socket_reader>(self_handle(self), fd);
  st.writer = std::make_unique<socket_writer>(self_handle(self), fd);
  return {
    [=](atom::frame, wire::envelope& env) { dispatch(self, env); },
    [=](atom::invalid, std::uint64_t id, const std::string& why) {
      log::warn("bridge", "connection {}: rejected a frame: {}",
                self->state.tag, why);
      send_frame(self, id, "error", to_json(error_body{"protocol", why, {}}));
    },
    [=](atom::closed, const std::string& why) {
      auto& st = self->state;
      if (why != "connection closed")
        send_frame(self, 0, "error", to_json(error_body{"protocol", why, {}}));
      st.closing = true;
      // The client went away: stop what it was running. vm.run cleans up
      // its VM when the exec ends (or right after create).
      for (auto& [id, s] : st.streams) {
        if (s.attach) {
          detach(s, self); // never the session: it outlives its clients
          continue;
        }
        s.cancelled = true;
        route_signal(self, id, s, SIGKILL);
      }
      maybe_quit(self);
    },
    [=](atom::started, std::uint64_t stream, caf::actor agent,
        std::uint64_t call) {
      auto it = self->state.streams.find(stream);
      if (it == self->state.streams.end())
        return;
      auto& s = it->second;
      s.agent = agent;
      s.call = call;
      for (auto& chunk : s.early_stdin)
        self->send(agent, atom::input_v, call, std::move(chunk));
      s.early_stdin.clear();
      if (s.early_signal != 0)
        self->send(agent, atom::signal_v, call, s.early_signal);
      if (s.early_detach)
        self->send(agent, atom::detach_v, call);
    },
    [=](atom::output, std::uint64_t stream, output_chunk& chunk) {
      auto bytes = chunk.data.size();
      send_frame(self, stream, "output", to_json(chunk), bytes);
    },
    [=](atom::credit, std::uint64_t stream, std::uint64_t bytes) {
      // The client's socket took a stream's output: the agent may send as
      // much more (end-to-end flow control, docs/protocol.md §6.2).
      auto it = self->state.streams.find(stream);
      if (it != self->state.streams.end() && it->second.agent)
        self->send(it->second.agent, atom::credit_v, it->second.call, bytes);
    },
    [=](atom::credit, atom::input, std::uint64_t stream, std::uint64_t bytes) {
      // A stream that ended already gave its count back (finish).
      auto it = self->state.streams.find(stream);
      if (it != self->state.streams.end())
        stdin_taken(self, &it->second, bytes);
    },
    [=](atom::progress, std::uint64_t stream, progress_event& ev) {
      send_frame(self, stream, "progress", to_json(ev));
    },
  };
}

} // namespace

caf::actor spawn_connection(caf::actor_system& sys, int fd,
                            bridge_deps deps) {
  return sys.spawn<caf::detached>(connection_impl, fd, std::move(deps));
}

} // namespace banger
