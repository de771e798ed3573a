#pragma once
// The detach key sequence of `banger vm session attach` (Ctrl-P Ctrl-Q, as
// docker's): found in what the terminal sends, across reads, and never
// forwarded to the session. A lone Ctrl-P goes on once the next byte shows
// it is not the start of the sequence.

#include <string>
#include <string_view>

namespace banger::cli {

class detach_keys {
public:
  static constexpr char first = '\x10';  // Ctrl-P
  static constexpr char second = '\x11'; // Ctrl-Q

  /// Feeds bytes read from the terminal; returns what to forward. Sets
  /// detached() when the sequence was typed (bytes after it are dropped).
  std::string feed(std::string_view data);
  bool detached() const { return detached_; }

private:
  bool pending_ = false; // the last byte was Ctrl-P
  bool detached_ = false;
};

} // namespace banger::cli
