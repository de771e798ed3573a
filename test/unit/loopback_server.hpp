#pragma once
// A cpp-httplib server on 127.0.0.1:<random port> running on its own thread
// for one test; stopped and joined when the test ends.

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

namespace banger::test {

class loopback_server {
public:
  httplib::Server srv;
  int port = 0;

  void start() {
    port = srv.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port, 0);
    thread_ = std::thread([this] { srv.listen_after_bind(); });
    for (int i = 0; i < 400 && !srv.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(srv.is_running());
  }
  std::string origin() const {
    return "http://127.0.0.1:" + std::to_string(port);
  }
  ~loopback_server() {
    srv.stop();
    if (thread_.joinable())
      thread_.join();
  }

private:
  std::thread thread_;
};

} // namespace banger::test
