/* Guests that misbehave, for e2e.guest_misbehaves (built there with
 * `cc -static`). One binary, three parts:
 *   as banger-agent (banger-init starts it by that name): opens the agent's
 *     virtio-serial port and never reads it nor answers - a wedged agent, a
 *     guest that stops reading its channel;
 *   as /init with /silent in the initramfs: PID 1 that never starts an
 *     agent and never ends - a guest with no agent;
 *   as /init otherwise: exits, so the kernel panics ("Attempted to kill
 *     init") and, with panic=-1 and QEMU's -no-reboot, the VMM ends. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void wedge(void) {
  for (int tries = 0; tries < 600; ++tries) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
      char path[512], name[128] = {0};
      snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
      int fd = open(path, O_RDONLY);
      if (fd < 0)
        continue;
      ssize_t n = read(fd, name, sizeof name - 1);
      close(fd);
      if (n > 0 && strncmp(name, "org.banger.agent", 16) == 0) {
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        if (open(path, O_RDWR) >= 0) {
          fprintf(stderr, "bad_guest: holding %s open, never reading it\n", path);
          for (;;)
            pause();
        }
      }
    }
    if (d != NULL)
      closedir(d);
    usleep(100000);
  }
}

int main(int argc, char **argv) {
  (void)argc;
  if (strstr(argv[0], "banger-agent") != NULL) {
    wedge();
    for (;;)
      pause();
  }
  if (access("/silent", F_OK) == 0) {
    fprintf(stderr, "bad_guest: PID 1 without an agent, forever\n");
    for (;;)
      pause();
  }
  fprintf(stderr, "bad_guest: PID 1 exits\n");
  return 1;
}
