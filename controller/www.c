/* SPDX-License-Identifier: MIT */
/*
 * www: the NOC dashboard's static files, embedded in the binary (.incbin)
 * so a controller needs nothing installed beside it and always serves the
 * dashboard that matches its API (controller process).
 */
#include <string.h>

#include "ctl.h"

#define WWW_EMBED(sym, file)                        \
	__asm__(".section .rodata\n"                \
		".balign 16\n"                      \
		#sym "_:\n"                         \
		".incbin \"" file "\"\n"            \
		#sym "_end_:\n"                     \
		".previous\n");                     \
	extern const char sym##_[] __asm__(#sym "_"); \
	extern const char sym##_end_[] __asm__(#sym "_end_")

WWW_EMBED(www_index, "controller/www/index.html");
WWW_EMBED(www_js, "controller/www/app.js");
WWW_EMBED(www_css, "controller/www/app.css");

const struct www_file *www_find(const char *path)
{
	static struct www_file files[3];

	if (!files[0].path) {
		files[0] = (struct www_file){ "/", "text/html; charset=utf-8", www_index_,
					      (size_t)(www_index_end_ - www_index_) };
		files[1] = (struct www_file){ "/ui/app.js", "text/javascript; charset=utf-8", www_js_,
					      (size_t)(www_js_end_ - www_js_) };
		files[2] = (struct www_file){ "/ui/app.css", "text/css; charset=utf-8", www_css_,
					      (size_t)(www_css_end_ - www_css_) };
	}
	if (strcmp(path, "/index.html") == 0 || strcmp(path, "/ui/") == 0 || strcmp(path, "/ui") == 0)
		path = "/";
	for (size_t i = 0; i < 3; i++)
		if (strcmp(files[i].path, path) == 0)
			return &files[i];
	return NULL;
}
