// banger-agent-probe: waits for a guest agent behind a unix socket (QEMU's
// chardev for the agent port) and optionally runs one command through it.
// Used for debugging and by the boot benchmark (VMM start -> first answer).
//
//   banger-agent-probe SOCKET [--timeout-ms N] [--quiet] [--ports]
//                             [-- ARGV...]
//
// Without ARGV it prints the milliseconds until the first health answer on
// stdout. With --ports it then prints the guest's listening sockets ("ports"),
// one "PROTO ADDRESS PORT PID PROCESS" line each ("-" for an unknown owner). With ARGV it prints them on stderr (unless --quiet), runs ARGV via
// "exec", copies its stdout/stderr and exits with its exit code.
// Exit codes of its own: 1 no answer / connection lost / error frame, 2 usage.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "messages/agent.hpp"
#include "messages/wire.hpp"

namespace {

using namespace banger;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string socket;
  long timeout_ms = 30000;
  bool quiet = false;
  bool ports = false;
  std::vector<std::string> argv;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "banger-agent-probe: %s\n"
               "usage: banger-agent-probe SOCKET [--timeout-ms N] [--quiet] "
               "[--ports] [-- ARGV...]\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i)
        o.argv.emplace_back(argv[i]);
      break;
    }
    if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--ports") {
      o.ports = true;
    } else if (a == "--timeout-ms" && i + 1 < argc) {
      char* end = nullptr;
      o.timeout_ms = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || o.timeout_ms <= 0)
        usage("--timeout-ms needs a positive number of milliseconds");
    } else if (!a.empty() && a[0] != '-' && o.socket.empty()) {
      o.socket = a;
    } else {
      usage(("unexpected argument '" + a + "'").c_str());
    }
  }
  if (o.socket.empty())
    usage("missing SOCKET");
  if (o.ports && !o.argv.empty())
    usage("--ports and a command do not go together");
  return o;
}


/// One connection to the agent with a frame reader.
struct channel {
  int fd = -1;
  wire::frame_reader reader;

  bool send(std::uint64_t id, const char* type, wire::json body) {
    wire::envelope env;
    env.id = id;
    env.type = type;
    env.body = std::move(body);
    return wire::write_all(fd, wire::encode_frame(env));
  }

  /// Next frame, waiting at most timeout_ms (-1: forever). nullopt on
  /// timeout; throws on EOF or a broken stream.
  std::optional<wire::envelope> receive(int timeout_ms) {
    for (;;) {
      if (auto payload = reader.next())
        return wire::parse_envelope(*payload);
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, timeout_ms);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return std::nullopt;
      char buf[65536];
      auto got = ::read(fd, buf, sizeof(buf));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        throw std::runtime_error(got == 0 ? "the agent closed the connection"
                                          : std::strerror(errno));
      reader.feed(buf, static_cast<std::size_t>(got));
    }
  }
};

long ms_since(clock_type::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                             clock_type::now() - t)
                             .count());
}

/// Connects and sends health until the agent answers. Returns false on timeout.
bool wait_for_agent(const options& o, channel& ch, clock_type::time_point start,
                    std::string& last_error) {
  std::uint64_t next_id = 1;
  while (ms_since(start) < o.timeout_ms) {
    if (ch.fd < 0) {
      ch.fd = wire::connect_unix(o.socket);
      if (ch.fd < 0) {
        // The VMM has not created its socket yet: try again shortly.
        last_error = std::string("connect: ") + std::strerror(errno);
        ::usleep(20 * 1000);
        continue;
      }
      ch.reader = wire::frame_reader();
    }
    auto health_id = next_id++;
    if (!ch.send(health_id, agent_msg::health, wire::json::object())) {
      last_error = std::string("write: ") + std::strerror(errno);
      ::close(ch.fd);
      ch.fd = -1;
      continue;
    }
    // The request waits in QEMU until the agent opens its port; ask again
    // now and then in case it got lost (an agent restarting, say).
    auto asked = clock_type::now();
    try {
      while (ms_since(asked) < 2000 && ms_since(start) < o.timeout_ms) {
        long left = std::min(2000 - ms_since(asked), o.timeout_ms - ms_since(start));
        auto env = ch.receive(static_cast<int>(std::max(left, 1L)));
        if (!env)
          continue;
        if (env->id >= 1 && env->id <= health_id && env->type == agent_msg::result) {
          decode<agent_health>(env->body);
          return true;
        }
        if (env->type == agent_msg::error)
          last_error = "agent error: " + env->body.dump();
      }
    } catch (const std::exception& e) {
      last_error = e.what();
      ::close(ch.fd);
      ch.fd = -1;
      ::usleep(20 * 1000);
    }
  }
  return false;
}

int run_command(const options& o, channel& ch) {
  const std::uint64_t id = 1000;
  exec_spec spec;
  spec.argv = o.argv;
  if (!ch.send(id, agent_msg::exec, to_json(spec))) {
    std::fprintf(stderr, "banger-agent-probe: sending exec: %s\n",
                 std::strerror(errno));
    return 1;
  }
  for (;;) {
    auto env = ch.receive(-1);
    if (!env || env->id != id)
      continue;
    if (env->type == agent_msg::output) {
      auto chunk = decode<output_chunk>(env->body);
      wire::write_all(chunk.stream == 2 ? STDERR_FILENO : STDOUT_FILENO,
                      chunk.data);
    } else if (env->type == agent_msg::result) {
      return decode<exec_result>(env->body).exit_code;
    } else if (env->type == agent_msg::error) {
      auto err = decode<error_body>(env->body);
      std::fprintf(stderr, "banger-agent-probe: agent error (%s): %s\n",
                   err.code.c_str(), err.message.c_str());
      return 1;
    }
  }
}

int list_ports(channel& ch) {
  const std::uint64_t id = 2000;
  if (!ch.send(id, agent_msg::ports, wire::json::object())) {
    std::fprintf(stderr, "banger-agent-probe: sending ports: %s\n",
                 std::strerror(errno));
    return 1;
  }
  for (;;) {
    auto env = ch.receive(-1);
    if (!env || env->id != id)
      continue;
    if (env->type == agent_msg::error) {
      auto err = decode<error_body>(env->body);
      std::fprintf(stderr, "banger-agent-probe: agent error (%s): %s\n",
                   err.code.c_str(), err.message.c_str());
      return 1;
    }
    for (auto& p : decode<agent_ports_reply>(env->body).ports)
      std::printf("%s %s %u %lld %s\n", p.proto.c_str(), p.address.c_str(),
                  p.port, static_cast<long long>(p.pid),
                  p.process.empty() ? "-" : p.process.c_str());
    return 0;
  }
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  auto start = clock_type::now();
  channel ch;
  std::string last_error = "no answer";
  if (!wait_for_agent(o, ch, start, last_error)) {
    std::fprintf(stderr,
                 "banger-agent-probe: no answer from the agent on %s within "
                 "%ld ms (last problem: %s)\n",
                 o.socket.c_str(), o.timeout_ms, last_error.c_str());
    return 1;
  }
  auto elapsed = ms_since(start);
  if (o.ports) {
    if (!o.quiet)
      std::fprintf(stderr, "banger-agent-probe: agent answered after %ld ms\n",
                   elapsed);
    try {
      return list_ports(ch);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "banger-agent-probe: %s\n", e.what());
      return 1;
    }
  }
  if (o.argv.empty()) {
    if (!o.quiet)
      std::printf("%ld\n", elapsed);
    return 0;
  }
  if (!o.quiet)
    std::fprintf(stderr, "banger-agent-probe: agent answered after %ld ms\n",
                 elapsed);
  try {
    return run_command(o, ch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banger-agent-probe: %s\n", e.what());
    return 1;
  }
}
