// Atomic output directories (host/output.hpp) when things go wrong: signals
// while a staging directory is live, staging directories of killed runs,
// --force next to files attnmc did not write, full disks, standard output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "host/output.hpp"
#include "tests/scratch.hpp"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Names in `dir` that look like staging or backup directories.
std::vector<std::string> hidden_leftovers(const fs::path& dir) {
  std::vector<std::string> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n[0] == '.' &&
        (n.find(".tmp-") != std::string::npos || n.find(".old-") != std::string::npos))
      v.push_back(n);
  }
  return v;
}

std::string read_all(int fd) {
  std::string s;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    s.append(buf, std::size_t(n));
  }
  return s;
}

void write_str(int fd, const std::string& s) {
  const ssize_t n = ::write(fd, s.data(), s.size());
  (void)n;
}

// ---- A child in a fresh process image ---------------------------------------
// Signal handlers are installed once per process, with the first staging
// directory; a test about what was installed *before* them needs a process
// that has not made one yet. The test binary re-executes itself with
// ATTNMC_OUTPUT_TEST_CHILD set, and this static initialiser runs the child
// before GoogleTest starts: exit status and the pipe carry the result.
void chained_handler(int) {
  const char* fd = std::getenv("ATTNMC_OUTPUT_TEST_FD");
  write_str(std::atoi(fd), "h");
  ::_exit(42);
}

int run_fresh_child(const std::string& mode, const fs::path& dir, int fd) {
  try {
    if (mode == "chain") {
      struct sigaction sa;
      std::memset(&sa, 0, sizeof sa);
      sa.sa_handler = chained_handler;
      sigemptyset(&sa.sa_mask);
      ::sigaction(SIGTERM, &sa, nullptr);
      attnmc::StagedDirectory s((dir / "out").string(), false);
      s.write_text("summary.json", "{}\n");
      write_str(fd, "r");
      for (;;) ::pause();
    }
    if (mode == "ignore") {
      ::signal(SIGHUP, SIG_IGN);
      attnmc::StagedDirectory s((dir / "out").string(), false);
      struct sigaction hup, term;
      ::sigaction(SIGHUP, nullptr, &hup);
      ::sigaction(SIGTERM, nullptr, &term);
      if ((hup.sa_flags & SA_SIGINFO) || hup.sa_handler != SIG_IGN) return 10;
      if (!(term.sa_flags & SA_SIGINFO)) return 11;  // the staging handler is there
      ::raise(SIGHUP);                               // ignored: nothing happens
      if (!fs::is_directory(s.path())) return 12;
      return 0;
    }
  } catch (const std::exception& e) {
    write_str(fd, std::string("exception: ") + e.what());
    return 3;
  }
  return 4;
}

[[maybe_unused]] const bool kRanAsChild = [] {
  const char* mode = std::getenv("ATTNMC_OUTPUT_TEST_CHILD");
  if (mode == nullptr) return false;
  ::_exit(run_fresh_child(mode, std::getenv("ATTNMC_OUTPUT_TEST_DIR"),
                          std::atoi(std::getenv("ATTNMC_OUTPUT_TEST_FD"))));
}();

// This binary again as a fresh child in `mode`; `fd` is the pipe's read end.
pid_t spawn_fresh(const std::string& mode, const fs::path& dir, int& fd) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    ::setenv("ATTNMC_OUTPUT_TEST_CHILD", mode.c_str(), 1);
    ::setenv("ATTNMC_OUTPUT_TEST_DIR", dir.c_str(), 1);
    ::setenv("ATTNMC_OUTPUT_TEST_FD", std::to_string(p[1]).c_str(), 1);
    ::execl("/proc/self/exe", "test_output_dir", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  fd = p[0];
  return pid;
}

// ---- A forked child holding a live staging directory ---------------------------
// It creates StagedDirectory(final_dir), writes summary.json (and a nested
// directory), says "r" through the pipe, then waits to be signalled.
pid_t spawn_staging_child(const fs::path& final_dir, int& fd) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    try {
      attnmc::StagedDirectory s(final_dir.string(), false);
      s.write_text("summary.json", "{}\n");
      fs::create_directories(fs::path(s.path()) / "cells" / "0" / "1");
      spit(fs::path(s.path()) / "cells" / "0" / "1" / "stats.h5", "x");
      write_str(p[1], "r");
      for (;;) ::pause();
    } catch (...) {
      ::_exit(3);
    }
  }
  ::close(p[1]);
  fd = p[0];
  return pid;
}

bool wait_ready(int fd) {
  char c = 0;
  ssize_t n;
  do n = ::read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 && c == 'r';
}

int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

class OutputDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = attnmc::test::temp_root() / (std::string("attnmc_test_output_dir_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A signal to a child with a live staging directory: the signal's own
  // exit status, and nothing left behind (staging, its nested files, the
  // parents it created).
  void expect_signal_cleans_up(int sig) {
    const fs::path final_dir = dir_ / "new" / "deep" / "out";
    int fd = -1;
    const pid_t pid = spawn_staging_child(final_dir, fd);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(wait_ready(fd));
    ::close(fd);
    ASSERT_EQ(hidden_leftovers(dir_ / "new" / "deep").size(), 1u);  // it is there
    ASSERT_EQ(::kill(pid, sig), 0);
    const int status = wait_status(pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_FALSE(fs::exists(dir_ / "new")) << "staging directory or its parents left behind";
    EXPECT_TRUE(hidden_leftovers(dir_).empty());
  }

  fs::path dir_;
};

// ---- 1. Signals ---------------------------------------------------------------

TEST_F(OutputDir, SigtermRemovesStagingDirectory) { expect_signal_cleans_up(SIGTERM); }

TEST_F(OutputDir, SigintRemovesStagingDirectory) { expect_signal_cleans_up(SIGINT); }

TEST_F(OutputDir, SighupRemovesStagingDirectory) { expect_signal_cleans_up(SIGHUP); }

TEST_F(OutputDir, SignalKeepsTheParentsThatExisted) {
  int fd = -1;
  const pid_t pid = spawn_staging_child(dir_ / "out", fd);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_ready(fd));
  ::close(fd);
  ASSERT_EQ(hidden_leftovers(dir_).size(), 1u);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  const int status = wait_status(pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(OutputDir, EarlierSignalHandlerIsChained) {
  int fd = -1;
  const pid_t pid = spawn_fresh("chain", dir_, fd);
  ASSERT_GT(pid, 0);
  char c = 0;
  ASSERT_EQ(::read(fd, &c, 1), 1);
  ASSERT_EQ(c, 'r');
  ASSERT_EQ(hidden_leftovers(dir_).size(), 1u);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  const std::string rest = read_all(fd);
  ::close(fd);
  const int status = wait_status(pid);
  EXPECT_EQ(rest, "h");  // the program's own handler ran
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 42);
  EXPECT_TRUE(hidden_leftovers(dir_).empty());  // and the staging directory went first
}

TEST_F(OutputDir, IgnoredSignalStaysIgnored) {
  int fd = -1;
  const pid_t pid = spawn_fresh("ignore", dir_, fd);
  ASSERT_GT(pid, 0);
  const std::string said = read_all(fd);
  ::close(fd);
  const int status = wait_status(pid);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << " " << said;
  EXPECT_EQ(WEXITSTATUS(status), 0) << said;
}

// ---- 2. Staging directories of killed runs --------------------------------------

// A child killed (SIGKILL: no handler runs) with a live staging directory.
fs::path killed_staging(const fs::path& dir) {
  int fd = -1;
  const pid_t pid = spawn_staging_child(dir / "out", fd);
  if (pid <= 0 || !wait_ready(fd)) return {};
  ::close(fd);
  ::kill(pid, SIGKILL);
  wait_status(pid);
  const std::vector<std::string> left = hidden_leftovers(dir);
  return left.size() == 1 ? dir / left[0] : fs::path();
}

std::string note_for(const fs::path& p) {
  return "attnmc: note: removed stale temporary directory " + p.string() +
         " (left by an interrupted run)";
}

TEST_F(OutputDir, StaleStagingOfKilledRunIsRemovedForASibling) {
  const fs::path stale = killed_staging(dir_);
  ASSERT_FALSE(stale.empty());
  ASSERT_TRUE(fs::is_directory(stale));
  testing::internal::CaptureStderr();
  {
    attnmc::StagedDirectory s((dir_ / "sibling").string(), false);
    s.write_text("summary.json", "{}\n");
    s.commit();
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_NE(err.find(note_for(stale)), std::string::npos) << err;
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
  EXPECT_TRUE(fs::exists(dir_ / "sibling" / "summary.json"));
}

TEST_F(OutputDir, StaleStagingOfKilledRunIsRemovedByTheCheck) {
  const fs::path stale = killed_staging(dir_);
  ASSERT_FALSE(stale.empty());
  testing::internal::CaptureStderr();
  attnmc::check_output_dir((dir_ / "out").string(), false);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_NE(err.find(note_for(stale)), std::string::npos) << err;
  // Once: a second check has nothing to say.
  testing::internal::CaptureStderr();
  attnmc::check_output_dir((dir_ / "out").string(), false);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(OutputDir, StagingOfLiveProcessIsKept) {
  int fd = -1;
  const pid_t pid = spawn_staging_child(dir_ / "out", fd);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_ready(fd));
  ::close(fd);
  const std::vector<std::string> live = hidden_leftovers(dir_);
  ASSERT_EQ(live.size(), 1u);
  testing::internal::CaptureStderr();
  {
    attnmc::StagedDirectory s((dir_ / "sibling").string(), false);
    attnmc::check_output_dir((dir_ / "out").string(), false);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(fs::is_directory(dir_ / live[0]));
  EXPECT_TRUE(fs::exists(dir_ / live[0] / "summary.json"));
  EXPECT_EQ(err, "");
  ::kill(pid, SIGKILL);
  wait_status(pid);
}

TEST_F(OutputDir, OnlyStagingNamesOfDeadOwnersAreCleared) {
  // This host's tag and a pid that is surely dead (a reaped child).
  std::string host;
  {
    attnmc::StagedDirectory probe((dir_ / "probe").string(), false);
    std::smatch m;
    const std::string name = fs::path(probe.path()).filename().string();
    const std::regex re(R"(^\.probe\.tmp-([0-9]+)-([0-9a-f]{8})-[A-Za-z0-9]{6}$)");
    ASSERT_TRUE(std::regex_match(name, m, re)) << name;
    EXPECT_EQ(std::stol(m[1].str()), long(::getpid()));
    host = m[2].str();
  }
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  wait_status(dead);
  const std::string other_host = host == "ffffffff" ? "fffffffe" : "ffffffff";
  const std::string d = std::to_string(dead);
  const std::vector<std::string> removed = {
      ".out.tmp-" + d + "-" + host + "-AbC123",  // dead owner here
      ".out.tmp-0123abcd-AbC123",                // older attnmc: no owner
      ".other.old-" + d + "-" + host + "-0123abcd"};
  const std::vector<std::string> kept = {
      ".out.tmp-" + d + "-" + other_host + "-AbC123",                     // another machine's
      ".out.tmp-" + std::to_string(::getpid()) + "-" + host + "-AbC123",  // alive
      ".notes.tmp-mine",                                                  // not attnmc's name
      "out.tmp-0123abcd-AbC123"};                                         // not hidden
  for (const auto& n : removed) fs::create_directories(dir_ / n / "x");
  for (const auto& n : kept) fs::create_directories(dir_ / n);
  spit(dir_ / ".file.tmp-0123abcd-AbC123", "a file, not a directory");
  fs::create_directories(dir_ / "other");  // .other.old- is a backup of an existing result

  testing::internal::CaptureStderr();
  attnmc::check_output_dir((dir_ / "out").string(), false);
  const std::string err = testing::internal::GetCapturedStderr();
  for (const auto& n : removed) {
    EXPECT_FALSE(fs::exists(dir_ / n)) << n;
    EXPECT_NE(err.find(note_for(dir_ / n)), std::string::npos) << n << "\n" << err;
  }
  for (const auto& n : kept) EXPECT_TRUE(fs::is_directory(dir_ / n)) << n;
  EXPECT_TRUE(fs::is_regular_file(dir_ / ".file.tmp-0123abcd-AbC123"));
}

TEST_F(OutputDir, BackupOfKilledRunComesBackWhenTheResultIsMissing) {
  // Killed between moving the old result aside and renaming the new one in.
  fs::create_directories(dir_ / ".out.old-0123abcd");
  spit(dir_ / ".out.old-0123abcd" / "summary.json", "old");
  testing::internal::CaptureStderr();
  EXPECT_THROW(attnmc::check_output_dir((dir_ / "out").string(), false), attnmc::InputError);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(slurp(dir_ / "out" / "summary.json"), "old");
  EXPECT_NE(err.find("attnmc: note: restored " + (dir_ / "out").string()), std::string::npos)
      << err;
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

// ---- 3. --force and files attnmc did not write --------------------------------------

TEST_F(OutputDir, ForceRefusesDirectoryWithUserFiles) {
  const fs::path out = dir_ / "out";
  fs::create_directories(out / "mydata");
  spit(out / "summary.json", "{}");
  spit(out / "stats.h5", "h5");
  spit(out / "notes.txt", "mine");
  spit(out / "cells", "a file named like attnmc's directory");
  spit(out / "zz1", "");
  spit(out / "zz2", "");
  spit(out / ".notes.txt.tmp-12", "");  // not a name attnmc writes
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (attempt == 0)
        attnmc::check_output_dir(out.string(), true);
      else
        attnmc::StagedDirectory s(out.string(), true);
      ADD_FAILURE() << "replaced a directory with user files (attempt " << attempt << ")";
    } catch (const attnmc::InputError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.parameter(), "output");
      EXPECT_NE(
          msg.find("holds files attnmc did not write: .notes.txt.tmp-12, cells, mydata and 3 more;"
                   " remove them or choose another directory"),
          std::string::npos)
          << msg;
    }
  }
  EXPECT_EQ(slurp(out / "notes.txt"), "mine");
  EXPECT_TRUE(fs::is_directory(out / "mydata"));
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

TEST_F(OutputDir, ForceRefusesUserFilesThatAppearBeforeCommit) {
  const fs::path out = dir_ / "out";
  attnmc::StagedDirectory s(out.string(), true);
  s.write_text("summary.json", "new");
  fs::create_directories(out);
  spit(out / "summary.json", "old");
  spit(out / "notes.txt", "mine");
  try {
    s.commit();
    ADD_FAILURE() << "commit replaced a directory with user files";
  } catch (const attnmc::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("holds files attnmc did not write: notes.txt"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(slurp(out / "notes.txt"), "mine");
  EXPECT_EQ(slurp(out / "summary.json"), "old");
}

TEST_F(OutputDir, ForceReplacesAttnmcOutput) {
  const fs::path out = dir_ / "out";
  fs::create_directories(out / "cells" / "0");
  for (const char* f : {"summary.json", "stats.h5", "table.txt", "collapse.csv", ".lock",
                        ".sweep.json.tmp-123"})  // a killed sweep store's half-written file
    spit(out / f, "old");
  spit(out / "cells" / "0" / "summary.json", "old");
  attnmc::check_output_dir(out.string(), true);
  {
    attnmc::StagedDirectory s(out.string(), true);
    s.write_text("summary.json", "new");
    s.commit();
  }
  EXPECT_EQ(slurp(out / "summary.json"), "new");
  EXPECT_FALSE(fs::exists(out / "stats.h5"));
  EXPECT_FALSE(fs::exists(out / "cells"));
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

TEST_F(OutputDir, ForceReplacesCompareOutputWithoutSummary) {
  const fs::path out = dir_ / "out";
  fs::create_directories(out);
  spit(out / "compare.json", "{}");
  spit(out / "table.txt", "t");
  attnmc::StagedDirectory s(out.string(), true);
  s.write_text("compare.json", "new");
  s.commit();
  EXPECT_EQ(slurp(out / "compare.json"), "new");
  EXPECT_FALSE(fs::exists(out / "table.txt"));
}

TEST_F(OutputDir, ForceNeedsAnAttnmcMarkerFile) {
  const fs::path out = dir_ / "out";
  fs::create_directories(out);
  spit(out / "table.txt", "mine");  // an attnmc name, but nothing says attnmc wrote it
  try {
    attnmc::check_output_dir(out.string(), true);
    ADD_FAILURE() << "replaced a directory without summary.json";
  } catch (const attnmc::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is not an attnmc output directory"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(slurp(out / "table.txt"), "mine");
}

// ---- 4. Write errors --------------------------------------------------------------

TEST_F(OutputDir, WriteFileCheckedReportsFullDisk) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  try {
    attnmc::write_file_checked("/dev/full", "some text\n", "out/x/summary.json");
    ADD_FAILURE() << "no error writing to /dev/full";
  } catch (const attnmc::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "output: cannot write out/x/summary.json: No space left on device");
  }
  // Empty text still opens (and so creates) the file: no error on /dev/full.
  EXPECT_NO_THROW(attnmc::write_file_checked("/dev/full", "", "out/x/empty"));
}

TEST_F(OutputDir, WriteFileCheckedReportsUnwritablePath) {
  try {
    attnmc::write_file_checked((dir_ / "missing" / "f").string(), "x", "out/f");
    ADD_FAILURE() << "no error";
  } catch (const attnmc::Error& e) {
    EXPECT_EQ(std::string(e.what()), "output: cannot write out/f: No such file or directory");
  }
}

TEST_F(OutputDir, WriteTextNamesTheFinalPath) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const fs::path out = dir_ / "out";
  {
    attnmc::StagedDirectory s(out.string() + "/", false);
    fs::create_symlink("/dev/full", s.file("summary.json"));
    try {
      s.write_text("summary.json", "{}\n");
      ADD_FAILURE() << "no error writing to a full disk";
    } catch (const attnmc::Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg, "output: cannot write " + (out / "summary.json").string() +
                         ": No space left on device");
      EXPECT_EQ(msg.find(s.path()), std::string::npos) << msg;  // not the staging path
    }
  }
  EXPECT_TRUE(fs::exists("/dev/full"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

TEST_F(OutputDir, FailedCommitNamesTheFinalPath) {
  const fs::path out = dir_ / "out";
  attnmc::StagedDirectory s(out.string(), false);
  s.write_text("summary.json", "{}\n");
  fs::remove_all(s.path());  // the rename into place fails
  try {
    s.commit();
    ADD_FAILURE() << "no error";
  } catch (const attnmc::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "output: cannot write " + out.string() + ": No such file or directory");
  }
  EXPECT_FALSE(fs::exists(out));
}

// Runs `body` in a forked child with standard output on `target`; what the
// child reports through the pipe comes back.
std::string with_stdout_on(const char* target, void (*body)(int fd), int& status) {
  int p[2];
  if (::pipe(p) != 0) return "pipe failed";
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    const int fd = ::open(target, O_WRONLY);
    if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) ::_exit(5);
    body(p[1]);
    ::_exit(0);
  }
  ::close(p[1]);
  const std::string said = read_all(p[0]);
  ::close(p[0]);
  status = wait_status(pid);
  return said;
}

void print_and_flush(int fd) {
  std::printf("a result table");
  try {
    attnmc::flush_stdout_or_throw();
    write_str(fd, "no exception");
  } catch (const std::runtime_error& e) {
    write_str(fd, e.what());
  }
}

TEST_F(OutputDir, FlushStdoutReportsFullDisk) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  int status = 0;
  EXPECT_EQ(with_stdout_on("/dev/full", print_and_flush, status),
            "cannot write standard output: No space left on device");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(with_stdout_on("/dev/null", print_and_flush, status), "no exception");
}

// ---- 5. A full file system ----------------------------------------------------------

TEST_F(OutputDir, FullTmpfsFailsNamingTheFinalPathAndLeavesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  const fs::path mnt = dir_ / "mnt";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const fs::path out = mnt / "out";
  try {
    attnmc::StagedDirectory s(out.string(), false);
    s.write_text("table.txt", "fits\n");
    s.write_text("summary.json", std::string(1 << 20, 'x'));  // 1 MiB on 64 KiB
    s.commit();
    ADD_FAILURE() << "no error on a full file system";
  } catch (const attnmc::Error& e) {
    EXPECT_EQ(std::string(e.what()), "output: cannot write " + (out / "summary.json").string() +
                                         ": No space left on device");
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(mnt)) << "a staging directory was left behind";
  // The space is back: the next run succeeds.
  {
    attnmc::StagedDirectory s(out.string(), false);
    s.write_text("summary.json", "{}\n");
    s.commit();
  }
  EXPECT_EQ(slurp(out / "summary.json"), "{}\n");
}

}  // namespace
