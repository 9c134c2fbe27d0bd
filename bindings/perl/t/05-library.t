use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/lib";
use Test::More;
use File::Temp ();
use File::Copy ();
use File::Path ();
use TestPeer qw( repo_root );

# How WebSocket::FFI finds libwebsocket.so, each case in a fresh perl.
my $built = repo_root() . '/target/release/libwebsocket.so';
ok( -f $built, 'the library is built' ) or BAIL_OUT('run `make` first');

sub load {
    my ( $libdir, %env ) = @_;
    local @ENV{ keys %env } = values %env;
    delete local $ENV{LIBWEBSOCKET_PATH} unless exists $env{LIBWEBSOCKET_PATH};
    my $out = `'$^X' '-I$libdir' -MWebSocket::FFI -e 'print qq{loaded \$WebSocket::FFI::LIBRARY}' 2>&1`;
    return ( $? >> 8, $out );
}

my $lib = "$FindBin::Bin/../lib";
my ( $rc, $out ) = load($lib);
is( $rc, 0, 'in the source tree it loads' );
like( $out, qr{^loaded /.*/target/release/libwebsocket\.so$}, '... the build tree library, by absolute path' );

( $rc, $out ) = load( $lib, LIBWEBSOCKET_PATH => $built );
is( $out, "loaded $built", 'LIBWEBSOCKET_PATH is used when set' );

( $rc, $out ) = load( $lib, LIBWEBSOCKET_PATH => '/nonexistent/libwebsocket.so' );
isnt( $rc, 0, 'a LIBWEBSOCKET_PATH that is not a file dies' );
like( $out, qr{LIBWEBSOCKET_PATH is /nonexistent/libwebsocket\.so, which is not a file}, '... saying so' );

# A copy of the modules outside the tree: only the system loader is left.
my $tmp = File::Temp->newdir;
File::Path::make_path("$tmp/lib/WebSocket");
File::Copy::copy( "$lib/WebSocket/FFI.pm", "$tmp/lib/WebSocket/FFI.pm" ) or die $!;
( $rc, $out ) = load( "$tmp/lib", LD_LIBRARY_PATH => '' );
isnt( $rc, 0, 'outside the tree, with no system library, loading dies' );
like( $out, qr{cannot load libwebsocket \(libwebsocket\.so.*set LIBWEBSOCKET_PATH}s, '... with a message that says what to do' );
( $rc, $out ) = load( "$tmp/lib", LD_LIBRARY_PATH => repo_root() . '/target/release' );
is( $out, 'loaded libwebsocket.so', 'the system loader finds it by name (LD_LIBRARY_PATH)' );

done_testing;
