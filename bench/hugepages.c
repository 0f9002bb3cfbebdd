#include "hugepages.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static long read_pages(void)
{
    FILE *f = fopen(NR_HUGEPAGES, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_pages(long v)
{
    FILE *f = fopen(NR_HUGEPAGES, "w");
    if (!f)
        return -1;
    int rc = fprintf(f, "%ld\n", v) < 0 ? -1 : 0;
    if (fclose(f))
        rc = -1;
    return rc;
}

int hugepages_setup(struct hugepages *h, const char *parent, long pages)
{
    memset(h, 0, sizeof(*h));
    h->saved = read_pages();
    if (h->saved < 0) {
        fprintf(stderr, "sidecore-bench: cannot read %s: %s\n", NR_HUGEPAGES, strerror(errno));
        return -1;
    }
    long want = h->saved + pages;
    int wrc = write_pages(want);
    long got = read_pages();
    h->added = got > h->saved ? got - h->saved : 0;
    h->reserved = true;
    /* The kernel grants what it can find; a short grant is an error, not
     * a quieter benchmark. */
    if (wrc || got < want) {
        fprintf(stderr, "sidecore-bench: could not reserve %ld hugepages of 2 MiB (got %ld; "
                "needs root and free memory)\n", pages, h->added);
        hugepages_restore(h);
        return -1;
    }
    snprintf(h->dir, sizeof(h->dir), "%s/huge", parent);
    if (mkdir(h->dir, 0700) && errno != EEXIST) {
        fprintf(stderr, "sidecore-bench: mkdir %s: %s\n", h->dir, strerror(errno));
        hugepages_restore(h);
        return -1;
    }
    if (mount("nodev", h->dir, "hugetlbfs", 0, "pagesize=2M")) {
        fprintf(stderr, "sidecore-bench: mount hugetlbfs on %s: %s\n", h->dir, strerror(errno));
        hugepages_restore(h);
        return -1;
    }
    h->mounted = true;
    return 0;
}

void hugepages_clear(struct hugepages *h)
{
    if (!h->mounted)
        return;
    DIR *d = opendir(h->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char f[PATH_MAX + 256];
        snprintf(f, sizeof(f), "%s/%s", h->dir, e->d_name);
        unlink(f);
    }
    closedir(d);
}

void hugepages_restore(struct hugepages *h)
{
    if (h->mounted) {
        hugepages_clear(h);
        if (umount(h->dir))
            fprintf(stderr, "sidecore-bench: umount %s: %s\n", h->dir, strerror(errno));
        h->mounted = false;
    }
    if (h->dir[0]) {
        rmdir(h->dir);
        h->dir[0] = 0;
    }
    if (h->reserved) {
        /* Give back what was added, not the old count: another run that
         * reserved pages meanwhile keeps its own. */
        long now = read_pages(), back = now - h->added;
        if (now < 0 || write_pages(back < 0 ? 0 : back))
            fprintf(stderr, "sidecore-bench: could not give back %ld pages in %s: %s\n",
                    h->added, NR_HUGEPAGES, strerror(errno));
        h->reserved = false;
    }
}
