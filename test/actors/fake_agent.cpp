#include "test/actors/fake_agent.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace banger::test {

namespace {

int listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("fake agent: socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), "socket");
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::listen(fd, 4) != 0) {
    int saved = errno;
    ::close(fd);
    throw std::system_error(saved, std::generic_category(),
                            "bind/listen " + path);
  }
  return fd;
}

} // namespace

fake_agent::fake_agent(std::string socket_path)
    : path_(std::move(socket_path)) {
  listen_fd_ = listen_unix(path_);
  if (::pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  thread_ = std::thread([this] { run(); });
}

fake_agent::~fake_agent() {
  stop();
  ::close(wake_fd_[0]);
  ::close(wake_fd_[1]);
}

agent_ports_reply fake_agent::scripted_ports() {
  return {{{"tcp", "0.0.0.0", 22, 123, "dropbear"},
           {"udp6", "::", 5353, 0, ""}}};
}

void fake_agent::set_silent(bool silent) {
  std::lock_guard<std::mutex> guard(mtx_);
  silent_ = silent;
}

void fake_agent::set_unprovisioned(int n) {
  std::lock_guard<std::mutex> guard(mtx_);
  unprovisioned_ = n;
}

void fake_agent::on_poweroff(std::function<void()> fn) {
  std::lock_guard<std::mutex> guard(mtx_);
  on_poweroff_ = std::move(fn);
}

void fake_agent::release_sleepers() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    release_ = true;
  }
  wake();
}

void fake_agent::disconnect(std::chrono::milliseconds after) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto at = std::chrono::steady_clock::now() + after;
    if (!disconnect_ || at < disconnect_at_)
      disconnect_at_ = at;
    disconnect_ = true;
  }
  wake();
}

void fake_agent::stop() {
  disconnect(std::chrono::milliseconds{0});
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void fake_agent::wake() {
  char c = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_[1], &c, 1);
}

std::vector<agent_request> fake_agent::requests() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return requests_;
}

std::vector<std::string> fake_agent::request_types(bool with_health) const {
  std::lock_guard<std::mutex> guard(mtx_);
  std::vector<std::string> out;
  for (auto& r : requests_)
    if (with_health || r.type != agent_msg::health)
      out.push_back(r.type);
  return out;
}

std::size_t fake_agent::count(std::string_view type) const {
  std::lock_guard<std::mutex> guard(mtx_);
  return static_cast<std::size_t>(
      std::count_if(requests_.begin(), requests_.end(),
                    [&](const agent_request& r) { return r.type == type; }));
}

bool fake_agent::wait_for(std::string_view type,
                          std::chrono::milliseconds timeout,
                          std::size_t n) const {
  std::unique_lock<std::mutex> lock(mtx_);
  return cv_.wait_for(lock, timeout, [&] {
    return static_cast<std::size_t>(std::count_if(
               requests_.begin(), requests_.end(),
               [&](const agent_request& r) { return r.type == type; }))
           >= n;
  });
}

std::size_t fake_agent::connections() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return connections_;
}

std::size_t fake_agent::held() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return sleepers_.size();
}

void fake_agent::set_credit_window(std::uint64_t window) {
  std::lock_guard<std::mutex> guard(mtx_);
  window_ = window;
}

void fake_agent::grant_stdin(std::uint64_t id, std::uint64_t bytes) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stdin_grants_.emplace_back(id, bytes);
  }
  wake();
}

std::uint64_t fake_agent::stdin_bytes() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return stdin_bytes_;
}

std::uint64_t fake_agent::credit_received() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return credit_received_;
}

std::uint64_t fake_agent::flood_sent() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return flood_sent_;
}

void fake_agent::pump_floods() {
  std::uint64_t window = 0;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    window = window_;
  }
  for (auto it = floods_.begin(); it != floods_.end();) {
    auto& f = it->second;
    while (f.left > 0 && (window == 0 || f.credit > 0)) {
      auto n = std::min<std::uint64_t>(f.left, 64 * 1024);
      if (window != 0)
        n = std::min(n, f.credit);
      answer(it->first, agent_msg::output,
             to_json(output_chunk{1, std::string(n, 'z')}));
      f.left -= n;
      if (window != 0)
        f.credit -= n;
      std::lock_guard<std::mutex> guard(mtx_);
      flood_sent_ += n;
    }
    if (f.left == 0) {
      answer(it->first, agent_msg::result, to_json(exec_result{0, 0}));
      it = floods_.erase(it);
    } else {
      ++it;
    }
  }
}

void fake_agent::answer(std::uint64_t id, const char* type, wire::json body) {
  if (conn_fd_ < 0)
    return;
  wire::envelope env;
  env.id = id;
  env.type = type;
  env.body = std::move(body);
  // A daemon that went away is not the agent's problem.
  wire::write_all(conn_fd_, wire::encode_frame(env));
}

void fake_agent::close_connection() {
  if (conn_fd_ >= 0) {
    ::close(conn_fd_);
    conn_fd_ = -1;
  }
  std::lock_guard<std::mutex> guard(mtx_);
  sleepers_.clear(); // their processes died with the connection's guest
}

void fake_agent::serve(const wire::envelope& env) {
  bool silent = false;
  bool provisioned = true;
  std::uint64_t window = 0;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    requests_.push_back({env.id, env.type, env.body});
    silent = silent_;
    window = window_;
    if (env.type == agent_msg::health && unprovisioned_ > 0) {
      --unprovisioned_;
      provisioned = false;
    }
  }
  cv_.notify_all();
  if (silent)
    return;
  auto fail = [&](const char* code, std::string message) {
    answer(env.id, agent_msg::error,
           to_json(error_body{code, std::move(message), {}}));
  };
  if (env.type == agent_msg::health) {
    answer(env.id, agent_msg::result,
           to_json(agent_health{"fake-1", "fake-boot", "fake", 1, provisioned,
                                window}));
  } else if (env.type == agent_msg::ports) {
    answer(env.id, agent_msg::result, to_json(scripted_ports()));
  } else if (env.type == agent_msg::sync) {
    answer(env.id, agent_msg::result, wire::json::object());
  } else if (env.type == agent_msg::poweroff) {
    answer(env.id, agent_msg::result, wire::json::object());
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      fn = on_poweroff_;
    }
    if (fn)
      fn();
  } else if (env.type == agent_msg::exec) {
    exec_spec spec;
    try {
      spec = decode<exec_spec>(env.body);
    } catch (const wire::decode_error& e) {
      fail("invalid_argument", e.what());
      return;
    }
    if (spec.argv.empty()) {
      fail("invalid_argument", "empty argv");
      return;
    }
    const auto& cmd = spec.argv[0];
    if (cmd == "echo") {
      std::string line;
      for (std::size_t i = 1; i < spec.argv.size(); ++i)
        line += (i > 1 ? " " : "") + spec.argv[i];
      answer(env.id, agent_msg::output, to_json(output_chunk{1, line + "\n"}));
      answer(env.id, agent_msg::result, to_json(exec_result{0, 0}));
    } else if (cmd == "exit") {
      auto code = spec.argv.size() > 1 ? std::stoi(spec.argv[1]) : 0;
      answer(env.id, agent_msg::result, to_json(exec_result{code, 0}));
    } else if (cmd == "sleep") {
      std::lock_guard<std::mutex> guard(mtx_);
      sleepers_.push_back(env.id);
    } else if (cmd == "flood") {
      floods_[env.id] = {std::stoull(spec.argv.at(1)), window};
      pump_floods();
    } else {
      answer(env.id, agent_msg::output,
             to_json(output_chunk{2, cmd + ": command not found\n"}));
      answer(env.id, agent_msg::result, to_json(exec_result{127, 0}));
    }
  } else if (env.type == agent_msg::signal) {
    signal_request sig;
    try {
      sig = decode<signal_request>(env.body);
    } catch (const wire::decode_error&) {
      return;
    }
    bool held = false;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      auto it = std::find(sleepers_.begin(), sleepers_.end(), env.id);
      if (it != sleepers_.end()) {
        sleepers_.erase(it);
        held = true;
      }
    }
    if (held)
      answer(env.id, agent_msg::result,
             to_json(exec_result{128 + sig.signal, sig.signal}));
  } else if (env.type == agent_msg::stdin_) {
    std::lock_guard<std::mutex> guard(mtx_);
    stdin_bytes_ += decode<stdin_chunk>(env.body).data.size();
  } else if (env.type == agent_msg::credit) {
    auto bytes = decode<stream_credit>(env.body).bytes;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      credit_received_ += bytes;
    }
    auto it = floods_.find(env.id);
    if (it != floods_.end()) {
      it->second.credit += bytes;
      pump_floods();
    }
  } else if (env.type == agent_msg::session_list) {
    session_info web;
    web.session = "web";
    web.state = "running";
    web.pid = 42;
    web.argv = {"sleep", "100"};
    web.age_ms = 90'000;
    answer(env.id, agent_msg::result, to_json(session_list{{web}}));
  } else if (env.type == agent_msg::session_attach) {
    auto req = decode<session_attach_request>(env.body);
    if (req.session != "web") {
      fail("not_found", "no session named '" + req.session + "'");
      return;
    }
    // The replay, then held until "detach".
    answer(env.id, agent_msg::output, to_json(output_chunk{1, "replayed\n"}));
    std::lock_guard<std::mutex> guard(mtx_);
    attaches_.push_back(env.id);
  } else if (env.type == agent_msg::detach) {
    bool held = false;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      auto it = std::find(attaches_.begin(), attaches_.end(), env.id);
      if (it != attaches_.end()) {
        attaches_.erase(it);
        held = true;
      }
    }
    session_info web;
    web.session = "web";
    web.state = "running";
    if (held)
      answer(env.id, agent_msg::result, to_json(web));
  } else if (env.type == agent_msg::session_start
             || env.type == agent_msg::session_stop) {
    fail("already_exists", "a session named 'web' is already running");
  } else {
    fail("protocol", "unknown request type '" + env.type + "'");
  }
}

void fake_agent::run() {
  wire::frame_reader reader;
  for (;;) {
    bool release = false;
    int timeout_ms = -1;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      if (disconnect_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        disconnect_at_ - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0)
          break;
        timeout_ms = static_cast<int>(left);
      }
      release = std::exchange(release_, false);
    }
    if (release) {
      std::vector<std::uint64_t> ids;
      {
        std::lock_guard<std::mutex> guard(mtx_);
        ids.swap(sleepers_);
      }
      for (auto id : ids)
        answer(id, agent_msg::result, to_json(exec_result{0, 0}));
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> grants;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      grants.swap(stdin_grants_);
    }
    for (auto& [id, bytes] : grants)
      answer(id, agent_msg::credit, to_json(stream_credit{bytes}));
    pollfd fds[2] = {{wake_fd_[0], POLLIN, 0},
                     {conn_fd_ >= 0 ? conn_fd_ : listen_fd_, POLLIN, 0}};
    if (::poll(fds, 2, timeout_ms) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[0].revents != 0) {
      char buf[64];
      while (::read(wake_fd_[0], buf, sizeof(buf)) > 0) {
      }
    }
    if (fds[1].revents == 0)
      continue;
    if (conn_fd_ < 0) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        conn_fd_ = fd;
        reader = wire::frame_reader{};
        std::lock_guard<std::mutex> guard(mtx_);
        ++connections_;
      }
      continue;
    }
    try {
      auto env = wire::read_envelope(conn_fd_, reader);
      if (!env) {
        close_connection();
        continue;
      }
      serve(*env);
      // read_envelope may have buffered further whole frames.
      while (auto payload = reader.next())
        serve(wire::parse_envelope(*payload));
    } catch (const std::exception&) {
      close_connection();
    }
  }
  close_connection();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(path_.c_str());
  }
}

} // namespace banger::test
