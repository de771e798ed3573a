// banger-init's per-VM setup that needs no VM: the network keys of the
// command line, the checks on them, picking the NIC, resolv.conf and hosts
// texts, the authorized_keys merge and fw_cfg provisioning into a fake root.

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guest/init/cmdline.hpp"
#include "guest/init/files.hpp"
#include "guest/init/network.hpp"
#include "guest/init/provision.hpp"
#include "messages/host_files.hpp"
#include "guest/init/work_disk.hpp"

using namespace banger::init;
namespace host_files = banger::host_files;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const std::string& path, const std::string& text) {
  auto slash = path.rfind('/');
  std::string cmd = "mkdir -p '" + path.substr(0, slash) + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ofstream(path) << text;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/banger-init-test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace

// -- command line ----------------------------------------------------------

TEST(cmdline, reads_the_network_keys) {
  auto p = parse_cmdline(
      "root=/dev/vda rw banger.ip=172.16.0.5/24 banger.gw=172.16.0.1 "
      "banger.dns=172.16.0.1,1.1.1.1 banger.dns=9.9.9.9 "
      "banger.mac=52:54:00:12:34:56\n");
  EXPECT_EQ(p.ip, "172.16.0.5/24");
  EXPECT_EQ(p.gw, "172.16.0.1");
  EXPECT_EQ(p.dns,
            (std::vector<std::string>{"172.16.0.1", "1.1.1.1", "9.9.9.9"}));
  EXPECT_EQ(p.mac, "52:54:00:12:34:56");
  EXPECT_EQ(p.other.count("banger.ip"), 0u);
  auto none = parse_cmdline("root=/dev/vda banger.dns=,,");
  EXPECT_TRUE(none.ip.empty());
  EXPECT_TRUE(none.dns.empty());
}

// -- network: pure parts ---------------------------------------------------

TEST(network, parses_addresses_strictly) {
  auto c = parse_cidr("172.16.0.5/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(format_ipv4(c->address), "172.16.0.5");
  EXPECT_EQ(c->prefix, 24);
  EXPECT_EQ(parse_cidr("10.0.0.1/32")->prefix, 32);
  EXPECT_EQ(parse_cidr("0.0.0.0/0")->prefix, 0);
  for (auto bad : {"172.16.0.5", "172.16.0.5/33", "172.16.0.5/", "172.16.0/24",
                   "172.16.0.5/2x", "/24", "172.16.0.256/24", "a.b.c.d/8",
                   "172.16.0.5/024", " 172.16.0.5/24"})
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  EXPECT_TRUE(parse_ipv4("172.16.0.1"));
  EXPECT_FALSE(parse_ipv4("172.16.1"));
  EXPECT_FALSE(parse_ipv4(""));
}

TEST(network, computes_netmasks) {
  EXPECT_EQ(format_ipv4(prefix_netmask(24)), "255.255.255.0");
  EXPECT_EQ(format_ipv4(prefix_netmask(20)), "255.255.240.0");
  EXPECT_EQ(format_ipv4(prefix_netmask(32)), "255.255.255.255");
  EXPECT_EQ(format_ipv4(prefix_netmask(1)), "128.0.0.0");
  EXPECT_EQ(format_ipv4(prefix_netmask(0)), "0.0.0.0");
}

TEST(network, normalizes_macs) {
  EXPECT_EQ(normalize_mac("52:54:00:AB:cd:01"), "52:54:00:ab:cd:01");
  EXPECT_FALSE(normalize_mac("52:54:00:ab:cd"));
  EXPECT_FALSE(normalize_mac("52-54-00-ab-cd-01"));
  EXPECT_FALSE(normalize_mac("52:54:00:ab:cd:0g"));
}

TEST(network, plans_from_the_command_line) {
  std::vector<std::string> problems;
  auto plan =
      plan_network(parse_cmdline("banger.ip=10.231.0.2/24 banger.gw=10.231.0.1 "
                                 "banger.dns=10.231.0.1,fd00::1,bogus "
                                 "banger.mac=52:54:00:AA:00:02"),
                   problems);
  ASSERT_TRUE(plan);
  EXPECT_EQ(format_ipv4(plan->ip.address), "10.231.0.2");
  EXPECT_EQ(plan->ip.prefix, 24);
  ASSERT_TRUE(plan->gw);
  EXPECT_EQ(format_ipv4(*plan->gw), "10.231.0.1");
  EXPECT_EQ(plan->dns, (std::vector<std::string>{"10.231.0.1", "fd00::1"}));
  EXPECT_EQ(plan->mac, "52:54:00:aa:00:02");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("bogus"), std::string::npos);
}

TEST(network, refuses_a_bad_ip_or_mac_and_ignores_no_ip) {
  std::vector<std::string> problems;
  EXPECT_FALSE(plan_network(parse_cmdline("root=/dev/vda"), problems));
  EXPECT_TRUE(problems.empty());
  EXPECT_FALSE(plan_network(parse_cmdline("banger.ip=10.0.0.2"), problems));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("ADDRESS/PREFIX"), std::string::npos);
  problems.clear();
  EXPECT_FALSE(plan_network(
      parse_cmdline("banger.ip=10.0.0.2/24 banger.mac=zz"), problems));
  EXPECT_EQ(problems.size(), 1u);
  problems.clear();
  auto no_gw = plan_network(
      parse_cmdline("banger.ip=10.0.0.2/24 banger.gw=10.0.0"), problems);
  ASSERT_TRUE(no_gw);
  EXPECT_FALSE(no_gw->gw);
  EXPECT_EQ(problems.size(), 1u);
  problems.clear();
  EXPECT_FALSE(plan_network(parse_cmdline("banger.gw=10.0.0.1"), problems));
  EXPECT_EQ(problems.size(), 1u);
}

TEST(network, picks_the_first_ethernet_interface_or_the_mac) {
  std::vector<interface_info> ifs{{"lo", "00:00:00:00:00:00", 772, 1},
                                  {"eth1", "52:54:00:00:00:02", 1, 3},
                                  {"sit0", "00:00:00:00", 776, 4},
                                  {"eth0", "52:54:00:00:00:01", 1, 2}};
  EXPECT_EQ(pick_interface(ifs, "")->name, "eth0");
  EXPECT_EQ(pick_interface(ifs, "52:54:00:00:00:02")->name, "eth1");
  EXPECT_FALSE(pick_interface(ifs, "52:54:00:00:00:09"));
  EXPECT_FALSE(pick_interface({{"lo", "00:00:00:00:00:00", 772, 1}}, ""));
}

TEST(network, writes_resolv_conf_with_search_vm) {
  EXPECT_EQ(resolv_conf_text({"172.16.0.1", "1.1.1.1"}),
            "# written by banger-init from the kernel command line\n"
            "nameserver 172.16.0.1\nnameserver 1.1.1.1\nsearch vm\n");
}

TEST(network, hosts_gets_one_line_for_the_hostname) {
  const std::string stock =
      "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";
  auto once = hosts_with(stock, "172.16.0.5", "box");
  EXPECT_EQ(once, stock + "172.16.0.5 box\n");
  EXPECT_EQ(hosts_with(once, "172.16.0.5", "box"), once) << "idempotent";
  // A new address replaces the old line in place.
  EXPECT_EQ(hosts_with(once + "# end\n", "172.16.0.9", "box"),
            stock + "172.16.0.9 box\n# end\n");
}

TEST(network, hosts_replaces_debian_style_and_stale_lines_keeps_the_rest) {
  const std::string debian =
      "127.0.0.1\tlocalhost\n"
      "127.0.1.1\tbox.example\tbox\n"
      "# The following lines are desirable for IPv6 capable hosts\r\n"
      "::1     localhost ip6-localhost ip6-loopback\n"
      "10.0.0.7 db\n"
      "172.16.0.5 old-name\n"
      "192.168.1.1 box";
  EXPECT_EQ(hosts_with(debian, "172.16.0.5", "box"),
            "127.0.0.1\tlocalhost\n"
            "172.16.0.5 box\n"
            "# The following lines are desirable for IPv6 capable hosts\r\n"
            "::1     localhost ip6-localhost ip6-loopback\n"
            "10.0.0.7 db\n");
  // The loopback line naming the host stays (only non-loopback ones go).
  EXPECT_EQ(hosts_with("127.0.0.1 localhost box", "10.0.0.2", "box"),
            "127.0.0.1 localhost box\n10.0.0.2 box\n");
  EXPECT_EQ(hosts_with("", "10.0.0.2", "box"), "10.0.0.2 box\n");
}

// resolv.conf may be a symlink (systemd-resolved's stub): it is replaced by
// a file, and what it pointed to stays as it was.
TEST(files, atomic_write_replaces_a_symlink_instead_of_following_it) {
  temp_dir d;
  auto target = d.path() + "/stub-resolv.conf";
  auto link = d.path() + "/resolv.conf";
  put(target, "nameserver 127.0.0.53\n");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(write_file_atomic(link, "nameserver 10.0.0.1\n", 0644), "");
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(mode_of(link), 0644u);
  EXPECT_EQ(slurp(link), "nameserver 10.0.0.1\n");
  EXPECT_EQ(slurp(target), "nameserver 127.0.0.53\n");
  EXPECT_NE(write_file_atomic(d.path() + "/no/such/dir/f", "x", 0644), "");
}

// -- provisioning ------------------------------------------------------------

TEST(provision, merge_keeps_existing_bytes_and_adds_missing_lines_once) {
  const std::string mine = "# my keys\r\nssh-ed25519 AAAAmine me@laptop\r\n";
  EXPECT_EQ(merge_authorized_keys(mine, "ssh-ed25519 AAAAmine me@laptop\n"),
            mine);
  EXPECT_EQ(merge_authorized_keys(mine, "ssh-ed25519 AAAAbanger banger\n"
                                        "\n# comment\n"
                                        "ssh-ed25519 AAAAbanger banger\n"
                                        "  ssh-rsa AAAArsa x  \r\n"),
            mine + "ssh-ed25519 AAAAbanger banger\nssh-rsa AAAArsa x\n");
  EXPECT_EQ(merge_authorized_keys("ssh-ed25519 A a", "ssh-ed25519 B b"),
            "ssh-ed25519 A a\nssh-ed25519 B b\n");
  EXPECT_EQ(merge_authorized_keys("", "ssh-ed25519 B b"), "ssh-ed25519 B b\n");
  EXPECT_EQ(merge_authorized_keys("x\n", ""), "x\n");
}

TEST(provision, installs_fw_cfg_items_into_the_root) {
  temp_dir fw, root;
  const std::string item = fw.path() + "/opt/banger/";
  put(item + "authorized_keys/raw", "ssh-ed25519 AAAAbanger banger\n");
  put(item + "ssh_host_ed25519_key/raw", "PRIVATE\n");
  put(item + "ssh_host_ed25519_key.pub/raw",
      "ssh-ed25519 AAAAhost banger-vm\n");
  put(item + "dropbear_ed25519_host_key/raw", std::string("\0\0\0\x0bssh", 10));
  ::mkdir((root.path() + "/etc").c_str(), 0755);
  ::mkdir((root.path() + "/etc/ssh").c_str(), 0755);
  put(root.path() + "/usr/sbin/dropbear", "#!/bin/sh\n");
  put(root.path() + "/root/.ssh/authorized_keys", "ssh-rsa AAAAuser u");

  auto r = provision(fw.path(), root.path());
  EXPECT_TRUE(r.fw_cfg);
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.keys_added, 1);
  EXPECT_TRUE(r.openssh_host_key);
  EXPECT_TRUE(r.dropbear_host_key);
  auto ak = root.path() + "/root/.ssh/authorized_keys";
  EXPECT_EQ(slurp(ak), "ssh-rsa AAAAuser u\nssh-ed25519 AAAAbanger banger\n");
  EXPECT_EQ(mode_of(ak), 0600u);
  EXPECT_EQ(slurp(root.path() + "/etc/ssh/ssh_host_ed25519_key"), "PRIVATE\n");
  EXPECT_EQ(mode_of(root.path() + "/etc/ssh/ssh_host_ed25519_key"), 0600u);
  EXPECT_EQ(mode_of(root.path() + "/etc/ssh/ssh_host_ed25519_key.pub"), 0644u);
  auto db = root.path() + "/etc/dropbear/dropbear_ed25519_host_key";
  EXPECT_EQ(slurp(db), std::string("\0\0\0\x0bssh", 10));
  EXPECT_EQ(mode_of(db), 0600u);
  EXPECT_EQ(mode_of(root.path() + "/etc/dropbear"), 0700u);

  // Again: nothing to add, nothing rewritten.
  auto again = provision(fw.path(), root.path());
  EXPECT_EQ(again.keys_added, 0);
  EXPECT_EQ(slurp(ak), "ssh-rsa AAAAuser u\nssh-ed25519 AAAAbanger banger\n");
}

TEST(provision, creates_root_ssh_and_skips_absent_servers) {
  temp_dir fw, root;
  put(fw.path() + "/opt/banger/authorized_keys/raw", "ssh-ed25519 K k\n");
  put(fw.path() + "/opt/banger/ssh_host_ed25519_key/raw", "PRIVATE\n");
  put(fw.path() + "/opt/banger/dropbear_ed25519_host_key/raw", "D");
  auto r = provision(fw.path(), root.path());
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.keys_added, 1);
  EXPECT_EQ(mode_of(root.path() + "/root"), 0700u);
  EXPECT_EQ(mode_of(root.path() + "/root/.ssh"), 0700u);
  EXPECT_EQ(slurp(root.path() + "/root/.ssh/authorized_keys"),
            "ssh-ed25519 K k\n");
  // No /etc/ssh, no dropbear: neither key is written, nothing is created.
  EXPECT_FALSE(r.openssh_host_key);
  EXPECT_FALSE(r.dropbear_host_key);
  struct stat st {};
  EXPECT_NE(::lstat((root.path() + "/etc").c_str(), &st), 0);
}

TEST(provision, does_nothing_without_fw_cfg) {
  temp_dir root;
  auto r = provision(root.path() + "/no-fw-cfg", root.path());
  EXPECT_FALSE(r.fw_cfg);
  struct stat st {};
  EXPECT_NE(::lstat((root.path() + "/root").c_str(), &st), 0);
}

// -- work disk ---------------------------------------------------------------
TEST(work_disk, finds_disks_by_their_virtio_serial) {
  temp_dir sys;
  for (auto [dev, serial] : {std::pair{"vda", "banger-root"}, std::pair{"vdb", "banger-work"},
                             std::pair{"loop0", ""}}) {
    ASSERT_EQ(::mkdir((sys.path() + "/" + dev).c_str(), 0755), 0);
    if (*serial != '\0')
      std::ofstream(sys.path() + "/" + dev + "/serial") << serial << "\n";
  }
  EXPECT_EQ(resolve_block_device("serial:banger-work", sys.path()), "/dev/vdb");
  EXPECT_EQ(resolve_block_device("serial:banger-root", sys.path()), "/dev/vda");
  EXPECT_EQ(resolve_block_device("serial:other", sys.path()), "");
  EXPECT_EQ(resolve_block_device("serial:banger", sys.path()), "");
  EXPECT_EQ(resolve_block_device("/dev/vdc", sys.path()), "/dev/vdc");
}

TEST(work_disk, copy_tree_keeps_modes_links_times_and_xattrs) {
  temp_dir from, to;
  auto f = from.path();
  ASSERT_EQ(::mkdir((f + "/.ssh").c_str(), 0700), 0);
  std::ofstream(f + "/.ssh/authorized_keys") << "ssh-ed25519 AAAA x\n";
  ::chmod((f + "/.ssh/authorized_keys").c_str(), 0600);
  std::ofstream(f + "/run.sh") << "#!/bin/sh\necho hi\n";
  ::chmod((f + "/run.sh").c_str(), 0751);
  std::ofstream(f + "/empty");
  ASSERT_EQ(::symlink("/etc/passwd", (f + "/pw").c_str()), 0);
  ASSERT_EQ(::mkfifo((f + "/fifo").c_str(), 0640), 0);
  struct timespec times[2] = {{1600000000, 0}, {1600000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (f + "/run.sh").c_str(), times, 0), 0);
  bool xattrs = ::setxattr((f + "/run.sh").c_str(), "user.banger", "yes", 3, 0) == 0;

  EXPECT_EQ(copy_tree(f, to.path()), 0);
  auto t = to.path();
  EXPECT_EQ(mode_of(t + "/.ssh"), 0700u);
  EXPECT_EQ(mode_of(t + "/.ssh/authorized_keys"), 0600u);
  std::ifstream keys(t + "/.ssh/authorized_keys");
  std::string line;
  std::getline(keys, line);
  EXPECT_EQ(line, "ssh-ed25519 AAAA x");
  EXPECT_EQ(mode_of(t + "/run.sh"), 0751u);
  struct stat st {};
  ASSERT_EQ(::stat((t + "/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(st.st_size, 18);
  ASSERT_EQ(::stat((t + "/empty").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  char target[64] = {};
  ASSERT_GT(::readlink((t + "/pw").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "/etc/passwd");
  ASSERT_EQ(::lstat((t + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  if (xattrs) {
    char value[8] = {};
    EXPECT_EQ(::getxattr((t + "/run.sh").c_str(), "user.banger", value, sizeof value), 3);
    EXPECT_STREQ(value, "yes");
  }
}

TEST(provision, installs_host_files_under_root) {
  temp_dir fw, root;
  std::string binary("\0\x01\xff\n", 4);
  auto blob = host_files::encode({{".config/tool/auth.json", 0600, "{\"token\":1}"},
                                  {"bin data", 0755, binary},
                                  {".gitconfig", 0644, ""}});
  put(fw.path() + "/opt/banger/host-files/raw", blob);
  put(root.path() + "/root/.config/keep", "mine");
  ::chmod((root.path() + "/root/.config").c_str(), 0755);
  auto r = provision(fw.path(), root.path());
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.host_files, 3);
  auto home = root.path() + "/root/";
  EXPECT_EQ(slurp(home + ".config/tool/auth.json"), "{\"token\":1}");
  EXPECT_EQ(mode_of(home + ".config/tool/auth.json"), 0600u);
  EXPECT_EQ(mode_of(home + ".config/tool"), 0700u);
  EXPECT_EQ(mode_of(home + ".config"), 0755u); // existing: left as it was
  EXPECT_EQ(slurp(home + ".config/keep"), "mine");
  EXPECT_EQ(slurp(home + "bin data"), binary);
  EXPECT_EQ(mode_of(home + "bin data"), 0755u);
  EXPECT_EQ(slurp(home + ".gitconfig"), "");
}

TEST(provision, a_damaged_host_files_blob_writes_nothing) {
  temp_dir fw, root;
  auto blob = host_files::encode({{"a", 0600, "aaaa"}, {"b", 0600, "bbbb"}});
  put(fw.path() + "/opt/banger/host-files/raw", blob.substr(0, blob.size() - 3));
  auto r = provision(fw.path(), root.path());
  EXPECT_EQ(r.failures, 1);
  EXPECT_EQ(r.host_files, 0);
  struct stat st {};
  EXPECT_NE(::lstat((root.path() + "/root/a").c_str(), &st), 0);
}

TEST(host_files_blob, round_trips_and_refuses_bad_input) {
  std::vector<host_files::file> files{{"x/y z", 0640, std::string("1\n2\0", 4)},
                                      {"é", 0600, ""}};
  std::string why;
  auto back = host_files::decode(host_files::encode(files), why);
  ASSERT_TRUE(back) << why;
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].path, "x/y z");
  EXPECT_EQ((*back)[0].mode, 0640u);
  EXPECT_EQ((*back)[0].data, std::string("1\n2\0", 4));
  EXPECT_EQ((*back)[1].path, "é");
  for (std::string bad :
       {std::string("nope"), std::string(host_files::magic) + "600 1 ../x\na\n",
        std::string(host_files::magic) + "600 1 /etc/x\na\n",
        std::string(host_files::magic) + "600 5 a\nab\n",
        std::string(host_files::magic) + "900 1 a\na\n",
        std::string(host_files::magic) + "600 1 a\naX",
        std::string(host_files::magic) + "600 1a\n"}) {
    EXPECT_FALSE(host_files::decode(bad, why)) << bad;
    EXPECT_FALSE(why.empty());
  }
  EXPECT_EQ(host_files::check_home_path("a//b"),
            "must not have empty, \".\" or \"..\" components");
  EXPECT_EQ(host_files::check_home_path(".config/x"), "");
}
