#pragma once
// Shows "progress" events on stderr: a spinner with the current stage when
// stderr is a terminal (a bar with bytes, rate and ETA for events that carry
// done/total), and otherwise nothing, or plain lines when asked (pulls: a
// line per stage and per quarter of a download, for logs).

#include <string>

#include "messages/vm.hpp"

namespace banger::cli {

class progress_display {
public:
  enum class when_not_tty { quiet, lines };

  /// Draws only if `fd` is a terminal; otherwise prints plain lines if asked.
  explicit progress_display(int fd = 2, when_not_tty mode = when_not_tty::quiet);
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
  void plain_line(const progress_event& ev);

  int fd_;
  bool lines_ = false;
  std::string stage_;
  double stage_start_ = 0;
  int quarter_ = -1;
  bool active_ = false;
  bool colour_ = false;
  bool unicode_ = false;
  bool drawn_ = false;
  unsigned frame_ = 0;
  std::string text_;
};

} // namespace banger::cli
