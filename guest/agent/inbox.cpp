#include "guest/agent/inbox.hpp"

#include <algorithm>

namespace banger::agent {

void inbox::feed(const char* data, std::size_t size) {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, size);
}

std::optional<inbox::item> inbox::next() {
  auto available = [&] { return buf_.size() - pos_; };
  if (skip_ > 0) {
    auto n = std::min<std::uint64_t>(skip_, available());
    pos_ += n;
    skip_ -= n;
    if (skip_ > 0)
      return std::nullopt;
  }
  if (available() < 4)
    return std::nullopt;
  auto b = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  std::uint32_t len = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16)
                      | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
  if (len > max_frame_) {
    pos_ += 4;
    skip_ = len;
    return item{{}, "frame of " + std::to_string(len)
                      + " bytes exceeds the limit of "
                      + std::to_string(max_frame_) + " bytes; skipped it"};
  }
  if (available() < 4 + std::size_t{len})
    return std::nullopt;
  item it{buf_.substr(pos_ + 4, len), std::nullopt};
  pos_ += 4 + len;
  return it;
}

void inbox::reset() {
  buf_.clear();
  pos_ = 0;
  skip_ = 0;
}

} // namespace banger::agent
