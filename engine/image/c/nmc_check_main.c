/* nmc_check: a host tool (and the C test's driver) that opens an image with nmc_image.c and
 * prints what it found, one fact per line, so a test can compare it with the Python reader. */
#include <stdio.h>

#include "nmc_image.h"

#define MAX_IMAGE (8u * 1024u * 1024u)

static uint8_t buffer[MAX_IMAGE];

static int check(const char *path)
{
    FILE *f;
    size_t size;
    nmc_image_t image;
    nmc_status_t status;
    uint32_t i, k;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "nmc_check: cannot open %s\n", path);
        return 2;
    }
    size = fread(buffer, 1, MAX_IMAGE, f);
    fclose(f);
    status = nmc_open(&image, buffer, (uint32_t)size);
    printf("status %s\n", nmc_status_name(status));
    if (status != NMC_OK) {
        return 1;
    }
    printf("version %u.%u\n", (unsigned)image.version_major, (unsigned)image.version_minor);
    printf("flags %lu\n", (unsigned long)image.flags);
    printf("family %u\n", (unsigned)image.family);
    printf("crc32 %08lx\n", (unsigned long)image.crc32);
    printf("sha256 ");
    for (k = 0; k < 32; k++) {
        printf("%02x", buffer[image.trailer_offset + NMC_TRAILER_OFF_SHA256 + k]);
    }
    printf("\n");
    printf("security %lu key ", (unsigned long)image.security_version);
    for (k = 0; k < 32; k++) {
        printf("%02x", image.key_id[k]);
    }
    printf("\n");
    for (i = 0; i < image.section_count; i++) {
        nmc_section_t s;
        nmc_block_t b;
        uint32_t cursor = 0, blocks = 0;
        nmc_section_at(&image, i, &s);
        while ((status = nmc_next_block(&s, &cursor, &b)) == NMC_OK) {
            blocks++;
        }
        printf("section %u %lu %lu %lu %lu %s\n", (unsigned)s.type, (unsigned long)s.instance,
               (unsigned long)s.offset, (unsigned long)s.size, (unsigned long)blocks,
               status == NMC_ERR_NOT_FOUND ? "ok" : nmc_status_name(status));
    }
    {
        nmc_section_t meta;
        nmc_block_t b;
        uint32_t cursor = 0;
        if (nmc_find_section(&image, NMC_SECTION_META, 0, &meta) == NMC_OK
            && nmc_next_block(&meta, &cursor, &b) == NMC_OK && b.tag == NMC_TAG_META_SITE) {
            printf("site %.*s\n", (int)b.nbytes, (const char *)b.data);
        }
    }
    {
        uint32_t version;
        const uint8_t *digest;
        if (nmc_state_layout(&image, &version, &digest) == NMC_OK) {
            printf("state %lu ", (unsigned long)version);
            for (k = 0; k < 32; k++) {
                printf("%02x", digest[k]);
            }
            printf("\n");
        }
    }
    return 0;
}

/* One image: exit 0 when it opens, 1 when it is rejected. Several: each result follows a
 * "== PATH" line and the exit code is 0 unless a file could not be read. */
int main(int argc, char **argv)
{
    int i, rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: nmc_check IMAGE...\n");
        return 2;
    }
    if (argc == 2) {
        return check(argv[1]);
    }
    for (i = 1; i < argc; i++) {
        printf("== %s\n", argv[i]);
        if (check(argv[i]) == 2) {
            rc = 2;
        }
    }
    return rc;
}
