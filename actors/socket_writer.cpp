#include "actors/socket_writer.hpp"

#include <caf/send.hpp>
#include <sys/socket.h>

#include "messages/type_ids.hpp"
#include "messages/wire.hpp"

namespace banger {

socket_writer::socket_writer(caf::actor owner, int fd) : fd_(fd) {
  thread_ = std::thread([this, owner = std::move(owner)] { run(owner); });
}

socket_writer::~socket_writer() {
  stop();
}

void socket_writer::push(std::string frame, std::uint64_t tag,
                         std::uint64_t credit) {
  std::lock_guard<std::mutex> lock(mtx_);
  if (failed_ || stopping_)
    return;
  backlog_ += frame.size();
  queue_.push_back({std::move(frame), tag, credit});
  cv_.notify_one();
}

std::size_t socket_writer::backlog() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return backlog_;
}

bool socket_writer::failed() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return failed_;
}

void socket_writer::run(caf::actor owner) {
  for (;;) {
    item next;
    {
      std::unique_lock<std::mutex> lock(mtx_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_)
        return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    // The only place that may block: a peer that does not read stalls this
    // thread, never the owner.
    bool ok = wire::write_all(fd_, next.frame);
    std::lock_guard<std::mutex> lock(mtx_);
    backlog_ -= next.frame.size();
    if (!ok) {
      failed_ = true;
      queue_.clear();
      backlog_ = 0;
      return;
    }
    if (next.credit != 0)
      caf::anon_send(owner, atom::credit_v, next.tag, next.credit);
  }
}

void socket_writer::stop() {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    if (stopping_ && !thread_.joinable())
      return;
    stopping_ = true;
    queue_.clear();
    backlog_ = 0;
  }
  cv_.notify_one();
  // Unblocks a write stuck on a peer that stopped reading.
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable())
    thread_.join();
}

} // namespace banger
