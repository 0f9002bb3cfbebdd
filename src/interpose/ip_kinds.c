/* The table of stage kinds and the JSON list parser. A new kind is one line
 * here. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip_chain.h"
#include "ip_filter.h"
#include "ip_stages.h"

struct ip_kind {
    const char *name;
    struct ip_stage *(*from_json)(const json_t *o, const char *ctx, char *err, size_t len);
};

static const struct ip_kind kinds[] = {
    {"meter", ip_meter_from_json},
    {"qos", ip_qos_from_json},
    {"crypt", ip_crypt_from_json},
    {"filter", ip_filter_from_json},
};

int ip_json_expect(char *err, size_t len, const char *ctx, const char *key, const char *what,
                   const json_t *got)
{
    char *s = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(err, len, "%s.%s: expected %s, got %.60s", ctx, key, what, s ? s : "nothing");
    free(s);
    return -EINVAL;
}

int ip_json_size(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -EINVAL;
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -EINVAL;
    const char *s = json_string_value(v);
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case '\0': break;
    default: return -EINVAL;
    }
    if (shift)
        end++;
    if (errno || *end || (shift && n > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)n << shift;
    return 0;
}

void ip_stages_free(struct ip_stage **st, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (st[i])
            st[i]->ops->destroy(st[i]);
}

json_t *ip_stages_stats(struct ip_stage *const *st, unsigned n)
{
    json_t *arr = json_array();
    for (unsigned i = 0; arr && i < n; i++) {
        json_t *o = st[i]->ops->stats ? st[i]->ops->stats(st[i]) : json_object();
        if (o) {
            json_object_set_new(o, "type", json_string(st[i]->ops->kind));
            json_array_append_new(arr, o);
        }
    }
    return arr;
}

int ip_stages_from_json(const json_t *arr, struct ip_stage **out, unsigned *n, char *err,
                        size_t len)
{
    if (!json_is_array(arr) || json_array_size(arr) > IP_MAX_STAGES) {
        snprintf(err, len, "interpose: expected an array of at most %d stage objects like "
                 "[{\"type\": \"meter\"}]", IP_MAX_STAGES);
        return -EINVAL;
    }
    size_t i;
    json_t *o;
    *n = 0;
    json_array_foreach(arr, i, o) {
        char ctx[32];
        snprintf(ctx, sizeof(ctx), "interpose[%zu]", i);
        const json_t *t = json_object_get(o, "type");
        const struct ip_kind *k = NULL;
        for (size_t j = 0; json_is_string(t) && j < sizeof(kinds) / sizeof(kinds[0]); j++)
            if (strcmp(json_string_value(t), kinds[j].name) == 0)
                k = &kinds[j];
        if (!k) {
            ip_json_expect(err, len, ctx, "type", "\"meter\", \"qos\", \"crypt\" or \"filter\"", t);
            goto fail;
        }
        if (!(out[*n] = k->from_json(o, ctx, err, len)))
            goto fail;
        (*n)++;
    }
    return 0;
fail:
    ip_stages_free(out, *n);
    *n = 0;
    return -EINVAL;
}
