using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>The relay's maildir: written to tmp/, renamed into new/, stored as Postfix's local delivery stores a message.</summary>
public class MaildirTests : TempFolderTest
{
    private static readonly Envelope Envelope = new("alice@example.org", null, [new EnvelopeRecipient("<bob@example.com>"), new EnvelopeRecipient("carol@example.com")]);

    [Test]
    public void A_message_goes_to_new_with_the_envelope_on_top_and_LF_line_ends()
    {
        var maildir = new SpamFilterMilter.Relay.Maildir(Path.Combine(Folder.Path, "mail"));

        var path = maildir.Deliver(Envelope, Encoding.Latin1.GetBytes("Subject: caf\u00e9\r\n\r\nbody\r\nbare\rCR\r\n"));

        Assert.That(Path.GetDirectoryName(path), Is.EqualTo(Path.Combine(Folder.Path, "mail", "new")));
        Assert.That(Encoding.Latin1.GetString(File.ReadAllBytes(path)),
            Is.EqualTo("Return-Path: <alice@example.org>\nDelivered-To: bob@example.com\nDelivered-To: carol@example.com\nSubject: caf\u00e9\n\nbody\nbare\rCR\n"));
        Assert.That(Directory.GetFiles(Path.Combine(Folder.Path, "mail", "tmp")), Is.Empty);
        Assert.That(Directory.Exists(Path.Combine(Folder.Path, "mail", "cur")), Is.True);
    }

    [Test]
    public void A_folder_is_a_Maildir_plus_plus_folder_and_every_message_gets_its_own_file()
    {
        var maildir = new SpamFilterMilter.Relay.Maildir(Folder.Path);

        var first = maildir.Deliver(Envelope, "a\r\n"u8.ToArray(), "Junk");
        var second = maildir.Deliver(Envelope, "b\r\n"u8.ToArray(), "Archive/2026");

        Assert.That(Path.GetDirectoryName(first), Is.EqualTo(Path.Combine(Folder.Path, ".Junk", "new")));
        Assert.That(Path.GetDirectoryName(second), Is.EqualTo(Path.Combine(Folder.Path, ".Archive.2026", "new")));
        Assert.That(File.Exists(Path.Combine(Folder.Path, ".Junk", "maildirfolder")), Is.True);
        Assert.That(maildir.Deliver(Envelope, "c\r\n"u8.ToArray(), "Junk"), Is.Not.EqualTo(first));
    }

    [Test]
    [Platform(Exclude = "Win")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Mail_and_its_folders_are_private_to_the_relays_user_not_left_to_the_umask()
    {
        var maildir = new SpamFilterMilter.Relay.Maildir(Path.Combine(Folder.Path, "mail"));
        maildir.Prepare();

        var inbox = maildir.Deliver(Envelope, "a\r\n"u8.ToArray());
        var junk = maildir.Deliver(Envelope, "b\r\n"u8.ToArray(), "Junk");

        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode PrivateFolder = Private | UnixFileMode.UserExecute;
        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(inbox), Is.EqualTo(Private));
            Assert.That(File.GetUnixFileMode(junk), Is.EqualTo(Private));
            Assert.That(File.GetUnixFileMode(Path.Combine(Folder.Path, "mail", ".Junk", "maildirfolder")), Is.EqualTo(Private));
            foreach (var folder in new[] { "mail", "mail/new", "mail/tmp", "mail/cur", "mail/.Junk", "mail/.Junk/new" })
            {
                Assert.That(File.GetUnixFileMode(Path.Combine(Folder.Path, folder)), Is.EqualTo(PrivateFolder), folder);
            }
        });
    }

    [TestCase("../etc")]
    [TestCase("")]
    [TestCase("a/../b")]
    [TestCase("trailing.")]
    public void A_folder_name_that_would_leave_the_maildir_is_refused(string folder)
    {
        var maildir = new SpamFilterMilter.Relay.Maildir(Folder.Path);

        Assert.That(() => maildir.Deliver(Envelope, "a\r\n"u8.ToArray(), folder), Throws.ArgumentException);
    }
}
