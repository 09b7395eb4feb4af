// The World over MPI (MPI_COMM_WORLD). Collectives are the non-blocking
// MPI-3 ones, completed by polling with short sleeps: Open MPI's blocking
// waits spin on a core, which would take it from a rank still computing
// when ranks share cores.
// The C API only (the deprecated C++ bindings need their own library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "attnmc/error.hpp"
#include "host/mpi/world.hpp"

namespace attnmc::mpi {
namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(std::string("mpi: ") + what + ": " + std::string(text, std::size_t(len)));
  }
}

// Sleeps 20 us, doubling up to 2 ms, between tests: at most a few
// milliseconds of latency per collective against runs of seconds.
class Backoff {
 public:
  void pause() {
    const timespec t{0, long(us_) * 1000};
    nanosleep(&t, nullptr);
    us_ = std::min(us_ * 2, 2000);
  }

 private:
  int us_ = 20;
};

void wait_quietly(MPI_Request* request, const char* what) {
  Backoff b;
  for (;;) {
    int done = 0;
    check(MPI_Test(request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    b.pause();
  }
}

int int_count(std::size_t n, const char* what) {
  if (n > std::size_t(INT_MAX))
    throw Error(std::string("mpi: ") + what + ": message of " + std::to_string(n) +
                " bytes exceeds MPI's 2 GiB count limit");
  return int(n);
}

}  // namespace

World::World(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = MPI_THREAD_SINGLE;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  initialized_ = true;
  threads_ok_ = provided >= MPI_THREAD_SERIALIZED;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

World::~World() {
  if (!initialized_) return;
  try {
    barrier();  // quietly: MPI_Finalize's own synchronisation spins
  } catch (...) {
  }
  MPI_Finalize();
}

std::vector<std::string> World::allgather(const std::string& mine) const {
  if (size_ == 1) return {mine};
  std::vector<std::uint64_t> sizes(static_cast<std::size_t>(size_));
  const std::uint64_t n = mine.size();
  MPI_Request r;
  check(MPI_Iallgather(&n, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &r),
        "allgather sizes");
  wait_quietly(&r, "allgather sizes");
  std::vector<int> counts(static_cast<std::size_t>(size_)), displs(counts.size());
  std::size_t total = 0;
  for (int i = 0; i < size_; ++i) {
    counts[std::size_t(i)] = int_count(sizes[std::size_t(i)], "allgather");
    displs[std::size_t(i)] = int_count(total, "allgather");
    total += sizes[std::size_t(i)];
  }
  int_count(total, "allgather");
  std::string all(total, '\0');
  check(MPI_Iallgatherv(mine.data(), int(n), MPI_BYTE, all.data(), counts.data(), displs.data(),
                        MPI_BYTE, MPI_COMM_WORLD, &r),
        "allgatherv");
  wait_quietly(&r, "allgatherv");
  std::vector<std::string> out;
  for (int i = 0; i < size_; ++i)
    out.push_back(all.substr(std::size_t(displs[std::size_t(i)]), sizes[std::size_t(i)]));
  return out;
}

std::string World::broadcast(const std::string& bytes) const {
  if (size_ == 1) return bytes;
  std::uint64_t n = bytes.size();
  MPI_Request r;
  check(MPI_Ibcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &r), "broadcast size");
  wait_quietly(&r, "broadcast size");
  std::string out = rank_ == 0 ? bytes : std::string(n, '\0');
  check(MPI_Ibcast(out.data(), int_count(n, "broadcast"), MPI_BYTE, 0, MPI_COMM_WORLD, &r),
        "broadcast");
  wait_quietly(&r, "broadcast");
  return out;
}

void World::barrier() const {
  if (size_ == 1) return;
  MPI_Request r;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &r), "barrier");
  wait_quietly(&r, "barrier");
}

void World::send(int to, int tag, const std::string& bytes) const {
  MPI_Request r;
  check(MPI_Isend(bytes.data(), int_count(bytes.size(), "send"), MPI_BYTE, to, tag, MPI_COMM_WORLD,
                  &r),
        "send");
  wait_quietly(&r, "send");
}

bool World::poll(int* from, int* tag) const {
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st), "probe");
  if (flag) {
    *from = st.MPI_SOURCE;
    *tag = st.MPI_TAG;
  }
  return flag != 0;
}

std::string World::receive(int from, int tag) const {
  Backoff b;
  MPI_Status st;
  for (;;) {
    int flag = 0;
    check(MPI_Iprobe(from, tag, MPI_COMM_WORLD, &flag, &st), "probe");
    if (flag) break;
    b.pause();
  }
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  std::string out(std::size_t(count), '\0');
  check(MPI_Recv(out.data(), count, MPI_BYTE, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "receive");
  return out;
}

void World::abort(int code) const {
  if (initialized_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace attnmc::mpi
