#pragma once
// Shows "progress" events on stderr: a spinner with the current stage when
// stderr is a terminal, nothing otherwise (logs and pipes stay clean).

#include <string>

#include "messages/vm.hpp"

namespace banger::cli {

class progress_display {
public:
  /// Active only if `fd` is a terminal.
  explicit progress_display(int fd = 2);
  ~progress_display();
  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;

  bool active() const { return active_; }

  void update(const progress_event& ev);
  /// Advances the spinner; call every ~100 ms.
  void tick();
  /// Erases the line; the display stays usable.
  void clear();
  /// Erases the line for good: later events and ticks show nothing.
  void stop();

private:
  void draw();

  int fd_;
  bool active_ = false;
  bool colour_ = false;
  bool unicode_ = false;
  bool drawn_ = false;
  unsigned frame_ = 0;
  std::string text_;
};

} // namespace banger::cli
