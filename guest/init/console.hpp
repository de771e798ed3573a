#pragma once
// What banger-init tells the console: one line per event, and on a fatal
// error the reason followed by a power-off (PID 1 must never just hang).

#include <string_view>

namespace banger::init {

/// Makes /dev/console our stdin/stdout/stderr (the kernel found no console
/// node in the initramfs, so we start without them). Needs /dev mounted.
void attach_console();

/// Writes "banger-init: <what>\n" to the console.
void say(std::string_view what);

/// Same, with ": <strerror(err)>".
void say_errno(std::string_view what, int err);

/// Prints the reason, syncs and powers the machine off.
[[noreturn]] void fatal(std::string_view what);
[[noreturn]] void fatal_errno(std::string_view what, int err);

/// Syncs and powers off; if that is refused, waits forever.
[[noreturn]] void power_off(int how);

} // namespace banger::init
