#pragma once
// A stand-in for banger-agent in the guest: listens on a Unix socket, as
// QEMU's virtio-serial chardev does on the host, and speaks the real framing
// (messages/wire.hpp) and codecs (messages/agent.hpp). Scripted answers:
//   health          -> agent_health
//   ports           -> fake_agent::scripted_ports() (dropbear on tcp 22,
//                      an ownerless udp6 socket on 5353)
//   sync, poweroff  -> {}            (poweroff then calls on_poweroff)
//   exec echo A B   -> output "A B\n", exit 0
//   exec exit N     -> exit N
//   exec sleep      -> held until a "signal" frame (exit 128+sig) or
//                      release_sleepers() (exit 0)
//   exec flood N    -> N bytes of 'z' on stdout in 64 KiB chunks, within
//                      the output credit (set_credit_window), then exit 0
//   credit          -> adds to a flood's credit (recorded)
//   exec other      -> stderr line, exit 127
//   session.list    -> one running session "web"
//   session.attach  -> web: output "replayed\n", held until "detach";
//                      others: error not_found
//   session.start/stop -> error already_exists
// Every request is recorded in arrival order. One thread, one connection at
// a time; a closed connection goes back to accepting.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "messages/agent.hpp"
#include "messages/wire.hpp"

namespace banger::test {

struct agent_request {
  std::uint64_t id = 0;
  std::string type;
  wire::json body;
};

class fake_agent {
public:
  /// Listens on `socket_path` before returning (QEMU's socket exists when
  /// the driver's launch returns), then serves from a thread of its own.
  explicit fake_agent(std::string socket_path);
  ~fake_agent();
  fake_agent(const fake_agent&) = delete;
  fake_agent& operator=(const fake_agent&) = delete;

  const std::string& socket_path() const { return path_; }

  /// What "ports" answers.
  static agent_ports_reply scripted_ports();

  // -- knobs ----------------------------------------------------------------

  /// Reads and records requests but never answers (a guest that hangs).
  void set_silent(bool silent);
  /// The next `n` "health" answers say provisioned: false (banger-init
  /// still installing keys and files).
  void set_unprovisioned(int n);
  /// Runs on the agent's thread right after "poweroff" was answered.
  void on_poweroff(std::function<void()> fn);
  /// Ends every held "sleep" exec with exit code 0.
  void release_sleepers();
  /// Flow control: health announces `window` and floods keep to it
  /// (0, the default: an agent without flow control).
  void set_credit_window(std::uint64_t window);
  /// Sends a stdin "credit" event of `bytes` on `id`, from the agent's thread.
  void grant_stdin(std::uint64_t id, std::uint64_t bytes);
  /// Closes the connection and stops listening, as when the VMM is gone,
  /// `after` from now. Does not block; safe from any thread, including the
  /// agent's own.
  void disconnect(std::chrono::milliseconds after = std::chrono::milliseconds{
                      0});
  /// disconnect(), then joins the thread.
  void stop();

  // -- observations ---------------------------------------------------------

  std::vector<agent_request> requests() const;
  /// Request types in arrival order; health probes only if asked for.
  std::vector<std::string> request_types(bool with_health = false) const;
  std::size_t count(std::string_view type) const;
  /// Waits (bounded) until `n` requests of `type` have arrived.
  bool wait_for(std::string_view type, std::chrono::milliseconds timeout,
                std::size_t n = 1) const;
  /// How many connections were accepted.
  std::size_t connections() const;
  /// How many "sleep" execs are held right now.
  std::size_t held() const;
  /// Data bytes of all "stdin" frames so far.
  std::uint64_t stdin_bytes() const;
  /// Output bytes the host granted with "credit" frames so far.
  std::uint64_t credit_received() const;
  /// Output bytes the floods sent so far.
  std::uint64_t flood_sent() const;

private:
  void run();
  void serve(const wire::envelope& env);
  void answer(std::uint64_t id, const char* type, wire::json body);
  void close_connection();
  /// Sends what the floods' credit allows (the agent's thread only).
  void pump_floods();
  void wake();

  std::string path_;
  int listen_fd_ = -1;
  int conn_fd_ = -1; // the agent thread's only
  int wake_fd_[2] = {-1, -1};
  std::thread thread_;

  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::vector<agent_request> requests_;
  std::vector<std::uint64_t> sleepers_;
  std::vector<std::uint64_t> attaches_; // held session.attach calls
  std::size_t connections_ = 0;
  bool silent_ = false;
  int unprovisioned_ = 0;
  bool release_ = false;
  bool disconnect_ = false;
  std::chrono::steady_clock::time_point disconnect_at_;
  std::function<void()> on_poweroff_;
  struct flood {
    std::uint64_t left = 0;
    std::uint64_t credit = 0;
  };
  std::map<std::uint64_t, flood> floods_; // the agent's thread only
  std::uint64_t window_ = 0;
  std::uint64_t stdin_bytes_ = 0;
  std::uint64_t credit_received_ = 0;
  std::uint64_t flood_sent_ = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> stdin_grants_;
};

} // namespace banger::test
