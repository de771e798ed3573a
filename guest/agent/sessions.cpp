#include "guest/agent/sessions.hpp"

#include <algorithm>

#include <csignal>

#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent/exec.hpp"

namespace banger::agent {

void signal_session(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0)
    ::kill(pid, sig);
}

// -- output_ring ----------------------------------------------------------------

void output_ring::append(int stream, std::string_view data) {
  if (data.empty() || cap_ == 0) {
    dropped_ += data.size();
    return;
  }
  if (data.size() > cap_) {
    dropped_ += data.size() - cap_;
    data.remove_prefix(data.size() - cap_);
  }
  // Small reads of one stream merge, so that a chatty command does not
  // cost a chunk per line.
  if (!chunks_.empty() && chunks_.back().stream == stream
      && chunks_.back().data.size() + data.size() <= 64 * 1024)
    chunks_.back().data.append(data);
  else
    chunks_.push_back(output_chunk{stream, std::string(data)});
  size_ += data.size();
  while (size_ > cap_) {
    auto excess = size_ - cap_;
    auto& front = chunks_.front();
    if (front.data.size() <= excess) {
      size_ -= front.data.size();
      dropped_ += front.data.size();
      chunks_.pop_front();
    } else {
      front.data.erase(0, excess);
      size_ -= excess;
      dropped_ += excess;
    }
  }
}

std::vector<output_chunk> output_ring::snapshot(std::size_t max_chunk) const {
  std::vector<output_chunk> out;
  if (max_chunk == 0)
    max_chunk = 1;
  for (auto& c : chunks_)
    for (std::size_t pos = 0; pos < c.data.size(); pos += max_chunk)
      out.push_back(output_chunk{c.stream, c.data.substr(pos, max_chunk)});
  return out;
}

// -- session_table ---------------------------------------------------------------

guest_session& session_table::start(const session_start_request& req) {
  auto name = req.session.empty() ? next_name() : req.session;
  if (auto why = check_session_name(name); !why.empty())
    throw session_error("invalid_argument", why);
  if (auto it = sessions_.find(name); it != sessions_.end()) {
    if (!it->second.ended)
      throw session_error("already_exists",
                          "a session named '" + name
                            + "' is already running (pid "
                            + std::to_string(it->second.pid)
                            + "); pick another name or stop it first");
  }
  auto spec = req.exec;
  spec.stdin_open = true;
  auto cwd = working_directory(spec);
  spec.cwd = cwd;
  auto child = spawn(spec); // throws before anything changed here
  sessions_.erase(name);    // an ended session of that name
  auto& s = sessions_.emplace(name, guest_session(ring_bytes_)).first->second;
  s.name = name;
  s.argv = spec.argv;
  s.cwd = cwd;
  s.pid = child.pid;
  s.in_fd = child.stdin_fd;
  s.out_fd = child.stdout_fd;
  s.err_fd = child.stderr_fd;
  s.seq = next_seq_++;
  s.started = session_clock::now();
  return s;
}

guest_session* session_table::find(const std::string& name) {
  auto it = sessions_.find(name);
  return it == sessions_.end() ? nullptr : &it->second;
}

guest_session* session_table::followed_by(std::uint64_t id) {
  for (auto& [name, s] : sessions_)
    if (s.followers.count(id) != 0)
      return &s;
  return nullptr;
}

guest_session& session_table::get(const std::string& name) {
  if (auto* s = find(name))
    return *s;
  std::string known;
  for (auto& [n, s] : sessions_)
    known += (known.empty() ? "" : ", ") + n;
  throw session_error("not_found",
                      "no session named '" + name + "' ("
                        + (known.empty() ? "there are none"
                                         : "there are: " + known)
                        + ")");
}

bool session_table::reaped(pid_t pid, int status) {
  for (auto& [name, s] : sessions_)
    if (s.pid == pid && !s.exited) {
      s.exited = true;
      s.status = status;
      s.exited_at = session_clock::now();
      s.kill_at.reset();
      return true;
    }
  return false;
}

void session_table::end(guest_session& s) {
  s.ended = true;
  std::vector<const guest_session*> ended;
  for (auto& [name, x] : sessions_)
    if (x.ended && &x != &s)
      ended.push_back(&x);
  if (ended.size() < max_ended)
    return;
  std::sort(ended.begin(), ended.end(),
            [](auto* a, auto* b) { return a->seq < b->seq; });
  for (std::size_t i = 0; i + max_ended <= ended.size(); ++i)
    sessions_.erase(ended[i]->name);
}

std::string session_table::next_name() const {
  for (std::uint64_t n = 1;; ++n) {
    auto name = "s" + std::to_string(n);
    if (sessions_.count(name) == 0)
      return name;
  }
}

session_info session_table::info(const guest_session& s) const {
  session_info i;
  i.session = s.name;
  i.state = s.exited ? "exited" : "running";
  i.pid = s.pid;
  i.argv = s.argv;
  i.cwd = s.cwd;
  i.age_ms = static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      session_clock::now() - s.started)
      .count());
  if (s.exited) {
    if (WIFSIGNALED(s.status)) {
      i.signal = WTERMSIG(s.status);
      i.exit_code = 128 + i.signal;
    } else {
      i.exit_code = WEXITSTATUS(s.status);
    }
  }
  return i;
}

session_list session_table::list() const {
  std::vector<const guest_session*> order;
  for (auto& [name, s] : sessions_)
    order.push_back(&s);
  std::sort(order.begin(), order.end(),
            [](auto* a, auto* b) { return a->seq < b->seq; });
  session_list out;
  for (auto* s : order)
    out.sessions.push_back(info(*s));
  return out;
}

void session_table::forget_hosts() {
  for (auto& [name, s] : sessions_) {
    s.followers.clear();
    s.stop_waiters.clear();
    s.stdin_owners.clear();
  }
}

} // namespace banger::agent
