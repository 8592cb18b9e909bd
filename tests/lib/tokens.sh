# SPDX-License-Identifier: MIT
# API tokens for tests that run a controller.  make_tokens DIR TWCTL writes
# DIR/tokens.yaml (the controller's --tokens file) with one token per role,
# named test-viewer, test-support and test-admin, and each token itself in
# DIR/viewer.tok, DIR/support.tok, DIR/admin.tok (twctl --token-file).
make_tokens() {
	local dir=$1 twctl=$2 role out
	echo "tokens:" >"$dir/tokens.yaml"
	for role in viewer support admin; do
		out=$("$twctl" token generate --name "test-$role" --role "$role") || return 1
		sed -n 's/^token: //p' <<<"$out" >"$dir/$role.tok"
		sed -n '/^  - name:/,$p' <<<"$out" >>"$dir/tokens.yaml"
	done
	chmod 600 "$dir"/*.tok "$dir/tokens.yaml"
}
