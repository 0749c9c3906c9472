global using NUnit.Framework;
global using SpamFilterMilter.Contract;
global using SpamFilterMilter.SmtpServer.Tests.Support;
global using SpamFilterMilter.Testing;
global using SpamFilterMilter.Testing.Smtp;
