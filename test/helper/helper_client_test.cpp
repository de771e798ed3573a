// The daemon's client of banger-helper (services/helper_client.hpp): how it
// reports a helper that is not there, stuck, gone mid-call or talking
// nonsense (against a fake helper on a Unix socket: no root, no network),
// and that it rides over a restart of the real helper (in a private network
// namespace, like every test that runs it).

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/helper_client.hpp"
#include "test/helper/calls.hpp"
#include "test/helper/netns.hpp"

namespace banger::test {
namespace {

using namespace std::chrono_literals;

/// A temporary directory, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/banger-helper-client-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

/// A stand-in for banger-helper: accepts connections one after the other on
/// a thread and gives each to `serve`, which owns it until it returns.
class fake_helper {
public:
  explicit fake_helper(std::function<void(int)> serve)
      : serve_(std::move(serve)), socket_(dir_.path + "/helper.sock") {
    listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            != 0
        || ::listen(listen_.get(), 4) != 0 || ::pipe2(stop_, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("fake helper: ")
                               + std::strerror(errno));
    thread_ = std::thread([this] { run(); });
  }
  ~fake_helper() {
    ::close(stop_[1]);
    thread_.join();
    ::close(stop_[0]);
  }
  const std::string& socket() const { return socket_; }

private:
  void run() {
    for (;;) {
      pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 || (p[1].revents != 0))
        return;
      unique_fd conn{::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC)};
      if (conn.valid())
        serve_(conn.get());
    }
  }

  std::function<void(int)> serve_;
  temp_dir dir_;
  std::string socket_;
  unique_fd listen_;
  int stop_[2] = {-1, -1};
  std::thread thread_;
};

/// Reads the one request of a connection.
wire::envelope request_on(int fd) {
  wire::frame_reader reader;
  auto req = wire::read_envelope(fd, reader);
  if (!req)
    throw std::runtime_error("no request");
  return *req;
}

std::string frame_of(const std::string& json_text) {
  auto n = static_cast<std::uint32_t>(json_text.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                  static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + json_text;
}

/// A fake that answers every request with `bytes` (and `fd`, if any).
fake_helper answering(std::string bytes, int fd = -1) {
  return fake_helper([bytes, fd](int conn) {
    request_on(conn);
    wire::send_all(conn, bytes, fd);
  });
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

TEST(HelperClient, NotRunningIsUnavailableAndSaysWhatToDo) {
  temp_dir dir;
  helper_client c(dir.path + "/helper.sock");
  EXPECT_EQ(c.socket_path(), dir.path + "/helper.sock");
  auto list = refused(c.list());
  EXPECT_EQ(list.code, "unavailable");
  EXPECT_NE(list.message.find("'" + dir.path + "/helper.sock'"),
            std::string::npos)
      << list.message;
  EXPECT_NE(list.message.find(std::strerror(ENOENT)), std::string::npos)
      << list.message;
  EXPECT_NE(list.message.find("sudo banger daemon start"), std::string::npos)
      << list.message;
  EXPECT_EQ(refused(c.open_tap("bgtap0")).code, "unavailable");
  EXPECT_EQ(refused(c.bind_dns("172.16.0.1", 53)).code, "unavailable");
  EXPECT_EQ(refused(c.ensure_bridge({"banger0", "172.16.0.1/24"})).code,
            "unavailable");

  // A socket left behind by a helper that died: nobody listens on it.
  {
    unique_fd gone{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    auto path = dir.path + "/stale.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(
        ::bind(gone.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
        0);
  }
  auto stale = refused(helper_client(dir.path + "/stale.sock").list());
  EXPECT_EQ(stale.code, "unavailable");
  EXPECT_NE(stale.message.find(std::strerror(ECONNREFUSED)), std::string::npos)
      << stale.message;
}

TEST(HelperClient, SendsOneRequestAndKeepsTheHelpersErrorCode) {
  std::mutex mutex;
  wire::envelope seen;
  auto last = [&] {
    std::lock_guard guard(mutex);
    return seen;
  };
  fake_helper fake([&](int conn) {
    auto req = request_on(conn);
    {
      std::lock_guard guard(mutex);
      seen = req;
    }
    wire::envelope err;
    err.id = req.id;
    err.type = helper_msg::error;
    err.body =
        to_json(error_body{"not_found", "TAP 'bgtap1' does not exist", {}});
    wire::send_all(conn, wire::encode_frame(err));
  });
  helper_client c(fake.socket());
  auto err = c.open_tap("bgtap1");
  ASSERT_FALSE(err);
  EXPECT_EQ(error_code(err.error()), ec::not_found);
  EXPECT_EQ(error_message(err.error()),
            "banger-helper: TAP 'bgtap1' does not exist");
  EXPECT_EQ(last().id, 1u);
  EXPECT_EQ(last().type, helper_msg::open_tap);
  EXPECT_EQ(last().body, wire::json({{"name", "bgtap1"}}));

  auto dns = c.bind_dns("172.16.0.1", 53);
  ASSERT_FALSE(dns);
  EXPECT_EQ(last().type, helper_msg::bind_dns);
  EXPECT_EQ(last().body, wire::json({{"address", "172.16.0.1"}, {"port", 53}}));

  // A code this side does not know is still an error, an internal one.
  fake_helper odd([](int conn) {
    request_on(conn);
    wire::send_all(conn, frame_of(R"({"v":1,"id":1,"type":"error","body":)"
                                  R"({"code":"none","message":"odd"}})"));
  });
  auto none = helper_client(odd.socket()).list();
  ASSERT_FALSE(none) << "an error frame must never turn into a success";
  EXPECT_EQ(error_code(none.error()), ec::internal);
}

TEST(HelperClient, ASilentHelperTimesOut) {
  fake_helper silent([](int conn) {
    request_on(conn);
    char buf[16];
    while (::read(conn, buf, sizeof(buf)) > 0) {
    } // until the client gives up and closes
  });
  helper_client c(silent.socket(), 200ms);
  auto start = std::chrono::steady_clock::now();
  auto err = refused(c.list());
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(err.code, "unavailable");
  EXPECT_NE(err.message.find("did not answer helper.list within 200 ms"),
            std::string::npos)
      << err.message;
  EXPECT_LT(took, 5s) << "it waited far past its timeout";
}

TEST(HelperClient, AHelperThatHangsUpIsUnavailable) {
  fake_helper rude([](int conn) { request_on(conn); });
  auto err = refused(helper_client(rude.socket()).list());
  EXPECT_EQ(err.code, "unavailable");
  EXPECT_NE(err.message.find("closed the connection before answering "
                             "helper.list"),
            std::string::npos)
      << err.message;

  fake_helper half([](int conn) {
    request_on(conn);
    wire::send_all(conn, std::string("\0\0\0\x40{\"v\":1", 10));
  });
  auto mid = refused(helper_client(half.socket()).list());
  EXPECT_EQ(mid.code, "unavailable");
  EXPECT_NE(mid.message.find("in the middle of its reply"), std::string::npos)
      << mid.message;
}

TEST(HelperClient, MalformedRepliesAreInternalErrors) {
  auto expect_internal = [](fake_helper&& fake, const std::string& words,
                            bool want_fd = false) {
    helper_client c(fake.socket());
    auto err = want_fd ? refused(c.open_tap("bgtap0")) : refused(c.list());
    EXPECT_EQ(err.code, "internal") << words;
    EXPECT_NE(err.message.find(words), std::string::npos) << err.message;
  };
  expect_internal(answering(frame_of("{not json")), "malformed JSON");
  expect_internal(
      answering(frame_of(R"({"v":1,"id":1,"type":"result","body":{"x":1}})")),
      "does not decode");
  expect_internal(
      answering(frame_of(R"({"v":1,"id":7,"type":"result","body":{}})")),
      "with id 7");
  expect_internal(
      answering(frame_of(R"({"v":1,"id":1,"type":"event","body":{}})")),
      "unexpected frame type 'event'");
  expect_internal(answering(frame_of(R"({"v":1,"id":1,"type":"error","body":)"
                                     R"({"text":"x"}})")),
                  "error reply to helper.list is malformed");
  // A result of open_tap must bring its descriptor.
  expect_internal(
      answering(frame_of(
          R"({"v":1,"id":1,"type":"result","body":{"name":"bgtap0"}})")),
      "0 file descriptors instead of one", true);
}

TEST(HelperClient, TakesTheDescriptorAndLeaksNone) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd pipe_r{p[0]}, pipe_w{p[1]};
  auto before = open_fds();
  {
    auto fake = answering(frame_of(R"({"v":1,"id":1,"type":"result","body":)"
                                   R"({"name":"bgtap0"}})"),
                          pipe_w.get());
    helper_client c(fake.socket());
    auto fd = ok(c.open_tap("bgtap0"));
    struct stat st {};
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "not the descriptor that was sent";
    EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(::write(fd.get(), "x", 1), 1);
    char b = 0;
    EXPECT_EQ(::read(pipe_r.get(), &b, 1), 1);
    // A reply for another TAP: refused, and its descriptor closed.
    auto other = answering(frame_of(R"({"v":1,"id":1,"type":"result","body":)"
                                    R"({"name":"bgtap1"}})"),
                           pipe_w.get());
    EXPECT_EQ(refused(helper_client(other.socket()).open_tap("bgtap0")).code,
              "internal");
    // A descriptor on a reply that takes none is closed, not kept.
    auto stray = answering(frame_of(R"({"v":1,"id":1,"type":"result","body":)"
                                    R"({"bridges":[],"taps":[],"nat":[]}})"),
                           pipe_w.get());
    EXPECT_TRUE(ok(helper_client(stray.socket()).list()).taps.empty());
    // ...and on an error frame too.
    auto err = answering(frame_of(R"({"v":1,"id":1,"type":"error","body":)"
                                  R"({"code":"bad_state","message":"x"}})"),
                         pipe_w.get());
    EXPECT_EQ(refused(helper_client(err.socket()).open_tap("bgtap0")).code,
              "bad_state");
  }
  EXPECT_EQ(open_fds(), before);
}

class HelperClientLive : public running_helper {
};

TEST_F(HelperClientLive, SurvivesAHelperRestartBetweenCalls) {
  helper_client c(socket_);
  ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  ok(c.create_tap({"bgtap0", owner_uid, "bgtest0"}));
  ASSERT_EQ(WEXITSTATUS(stop_helper()), 0);
  auto down = refused(c.list());
  EXPECT_EQ(down.code, "unavailable");
  EXPECT_NE(down.message.find(socket_), std::string::npos) << down.message;
  EXPECT_NE(down.message.find("sudo banger daemon start"), std::string::npos)
      << down.message;
  start_helper();
  // The same client, no reconnect dance: the next call simply works.
  auto list = ok(c.list());
  EXPECT_EQ(list.taps.size(), 1u);
  EXPECT_TRUE(ok(c.open_tap("bgtap0")).valid());
}

} // namespace
} // namespace banger::test
