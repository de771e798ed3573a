#include "services/ssh_hostkey.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "messages/wire.hpp"
#include "services/error.hpp"
#include "services/process.hpp"

namespace fs = std::filesystem;
using namespace banger;

namespace {

class vm_host_key_test : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "banger-hostkey-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in),
            std::istreambuf_iterator<char>()};
  }

  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  /// The second field of "ssh-ed25519 AAAA... comment".
  static std::string key_blob(const std::string& line) {
    std::istringstream in(line);
    std::string type, blob;
    in >> type >> blob;
    return blob;
  }

  std::string dir_;
};

TEST_F(vm_host_key_test, dropbear_reads_the_converted_key_as_the_same_key) {
  auto key = make_vm_host_key(dir_);
  ASSERT_TRUE(key) << error_message(key.error());
  EXPECT_EQ(key->private_openssh_path, dir_ + "/ssh_host_ed25519_key");
  EXPECT_EQ(key->public_openssh_path, dir_ + "/ssh_host_ed25519_key.pub");
  EXPECT_EQ(key->private_dropbear_path, dir_ + "/dropbear_ed25519_host_key");
  EXPECT_EQ(key->public_line.rfind("ssh-ed25519 AAAA", 0), 0u)
      << key->public_line;
  EXPECT_EQ(key->public_line.substr(key->public_line.size() - 10),
            " banger-vm");
  EXPECT_EQ(mode_of(key->private_openssh_path), 0600u);
  EXPECT_EQ(mode_of(key->private_dropbear_path), 0600u);
  // "ssh-ed25519" and 64 key bytes, each with its length: 4+11+4+64.
  EXPECT_EQ(slurp(key->private_dropbear_path).size(), 83u);

  auto shown = run({"dropbearkey", "-y", "-f", key->private_dropbear_path});
  if (!shown)
    GTEST_SKIP() << "dropbearkey is not installed (apt-get install "
                    "dropbear-bin): "
                 << error_message(shown.error());
  ASSERT_TRUE(shown->ok()) << shown->err;
  std::string dropbear_line;
  std::istringstream lines(shown->out);
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("ssh-ed25519 ", 0) == 0)
      dropbear_line = l;
  ASSERT_FALSE(dropbear_line.empty()) << shown->out;
  EXPECT_EQ(key_blob(dropbear_line), key_blob(key->public_line));
}

TEST_F(vm_host_key_test, each_call_makes_a_fresh_key) {
  auto a = make_vm_host_key(dir_);
  ASSERT_TRUE(a) << error_message(a.error());
  auto b = make_vm_host_key(dir_);
  ASSERT_TRUE(b) << error_message(b.error());
  EXPECT_NE(a->public_line, b->public_line);
  EXPECT_EQ(slurp(b->public_openssh_path), b->public_line + "\n");
}

TEST_F(vm_host_key_test, a_missing_directory_is_a_clear_error) {
  auto key = make_vm_host_key(dir_ + "/nope");
  ASSERT_FALSE(key);
  EXPECT_EQ(error_code(key.error()), ec::unavailable);
  EXPECT_NE(error_message(key.error()).find("not a directory"),
            std::string::npos);
}

TEST_F(vm_host_key_test, malformed_input_is_refused_with_the_reason) {
  auto why = [](const std::string& pem) {
    auto r = openssh_ed25519_to_dropbear(pem);
    EXPECT_FALSE(r);
    if (r)
      return std::string();
    EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
    return error_message(r.error());
  };
  EXPECT_NE(why("").find("no \"-----BEGIN OPENSSH PRIVATE KEY-----\""),
            std::string::npos);
  EXPECT_NE(why("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"
                "-----END RSA PRIVATE KEY-----\n")
                .find("not supported"),
            std::string::npos);
  auto armour = [](const std::string& bytes) {
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + wire::base64_encode(bytes)
           + "\n-----END OPENSSH PRIVATE KEY-----\n";
  };
  EXPECT_NE(why("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n"
                "-----END OPENSSH PRIVATE KEY-----\n")
                .find("base64"),
            std::string::npos);
  EXPECT_NE(why(armour("not-the-magic")).find("header"), std::string::npos);
  EXPECT_NE(
      why(armour(std::string("openssh-key-v1\0\0\0", 18))).find("truncated"),
      std::string::npos);

  // A real key, cut short and with its private half altered.
  auto key = make_vm_host_key(dir_);
  ASSERT_TRUE(key) << error_message(key.error());
  auto pem = slurp(key->private_openssh_path);
  auto begin = pem.find('\n') + 1;
  auto end = pem.find("-----END");
  std::string b64;
  for (auto i = begin; i < end; ++i)
    if (pem[i] != '\n')
      b64 += pem[i];
  auto blob = wire::base64_decode(b64);
  EXPECT_NE(why(armour(blob.substr(0, blob.size() - 60))).find("truncated"),
            std::string::npos);
  auto flipped = blob;
  flipped[flipped.size() - 40] ^= 0x55; // inside the 64-byte private key
  auto msg = why(armour(flipped));
  EXPECT_TRUE(msg.find("do not match") != std::string::npos
              || msg.find("truncated") != std::string::npos)
      << msg;
  EXPECT_TRUE(openssh_ed25519_to_dropbear(pem)) << "the intact key converts";
}

TEST_F(vm_host_key_test, encrypted_and_non_ed25519_keys_are_refused) {
  auto path = dir_ + "/enc";
  auto made = run(
      {"ssh-keygen", "-q", "-t", "ed25519", "-N", "secret words", "-f", path});
  ASSERT_TRUE(made) << error_message(made.error());
  ASSERT_TRUE(made->ok()) << made->err;
  auto r = openssh_ed25519_to_dropbear(slurp(path));
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("encrypted"), std::string::npos)
      << error_message(r.error());

  auto ecdsa = dir_ + "/ecdsa";
  made = run({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", ecdsa});
  ASSERT_TRUE(made) << error_message(made.error());
  ASSERT_TRUE(made->ok()) << made->err;
  r = openssh_ed25519_to_dropbear(slurp(ecdsa));
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("not ssh-ed25519"), std::string::npos)
      << error_message(r.error());
}

} // namespace
