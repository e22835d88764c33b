/* A worker thread that burns CPU and sleeps, about half the time each. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static void burn_ms(uint64_t ms) {
    uint64_t end = now_ns() + ms * 1000000ull;
    uint64_t x = 1;
    while (now_ns() < end) {
        for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1;
    }
    sink += x;
}

__attribute__((noinline)) static void nap_ms(uint64_t ms) { usleep((useconds_t)(ms * 1000)); }

static void *worker(void *arg) {
    int rounds = *(int *)arg;
    for (int i = 0; i < rounds; i++) {
        burn_ms(20);
        nap_ms(20);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 25;
    pthread_t t;
    pthread_create(&t, NULL, worker, &rounds);
    pthread_join(t, NULL);
    return 0;
}
