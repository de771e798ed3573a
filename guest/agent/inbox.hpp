#pragma once
// Splits the port's byte stream into frame payloads. Unlike wire::frame_reader
// it survives an oversized frame: it reports it and skips exactly the bytes
// the frame announced, so the stream is usable again afterwards.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "messages/wire.hpp"

namespace banger::agent {

class inbox {
public:
  /// One popped frame: its payload, or why it was dropped.
  struct item {
    std::string payload;
    std::optional<std::string> error;
  };

  explicit inbox(std::size_t max_frame = wire::default_max_frame)
    : max_frame_(max_frame) {
  }

  void feed(const char* data, std::size_t size);
  std::optional<item> next();
  /// Forgets everything (a new host connection starts a new stream).
  void reset();

private:
  std::size_t max_frame_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t skip_ = 0; // bytes of an oversized frame still to drop
};

} // namespace banger::agent
