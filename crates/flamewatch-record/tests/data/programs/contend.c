/* Threads contending on one mutex held while computing: most waiting is lock wait. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static void critical(void) {
    uint64_t end = now_ns() + 2000000ull;
    uint64_t x = 1;
    while (now_ns() < end) {
        for (int i = 0; i < 100; i++) x = x * 6364136223846793005ull + 1;
    }
    sink += x;
}

static void *worker(void *arg) {
    int rounds = *(int *)arg;
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&lock);
        critical();
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 100;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, &rounds);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    return 0;
}
